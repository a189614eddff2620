"""Loading a saved checkpoint, with errors that say what is wrong with the folder."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError

from iter.errors import CheckpointError
from iter.modeling.model import ITER, ITERForRelationExtraction

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def load_model(path: str | Path, device: str = "cpu") -> ITERForRelationExtraction:
    """An ITER model and its tokenizer from a checkpoint folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{folder}: config.json is missing; not a saved ITER model")
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(
            f"{config_file}: not valid JSON ({err.msg}, line {err.lineno})"
        ) from None
    if config.get("model_type") != "iter":
        raise CheckpointError(
            f"{config_file}: model_type is {config.get('model_type')!r}, not 'iter'"
        )
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise CheckpointError(f"{folder}: no weights ({' or '.join(WEIGHT_FILES)})")
    cls = ITERForRelationExtraction if config.get("relation_types") else ITER
    try:
        model = cls.from_pretrained(folder)
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as err:
        raise CheckpointError(f"{folder}: cannot load the model: {err}") from None
    if model.tokenizer is None:
        raise CheckpointError(f"{folder}: no tokenizer files (tokenizer.json / vocab)")
    return model.to(device)
