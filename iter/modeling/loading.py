"""Loading a saved checkpoint, with errors that say what is wrong with the folder."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from transformers.utils import cached_file

from iter.errors import CheckpointError
from iter.modeling.authors import is_authors_config, looks_like_hub_id
from iter.modeling.hub import WEIGHT_FILES
from iter.modeling.model import ITER, ITERForRelationExtraction


def load_model(path: str | Path, device: str = "cpu") -> ITERForRelationExtraction:
    """An ITER model and its tokenizer from a checkpoint folder (ours or one saved by the
    authors' code), or from the hub where ``path`` is no folder but a hub id."""
    name = str(path)
    folder = Path(name).expanduser()
    if not folder.is_dir():
        if looks_like_hub_id(name):
            return _load(_model_class(_hub_config(name), name), name, device)
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{folder}: config.json is missing; not a saved ITER model")
    config = _read_config(config_file)
    cls = _model_class(config, str(config_file))
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise CheckpointError(f"{folder}: no weights ({' or '.join(WEIGHT_FILES)})")
    return _load(cls, folder, device)


def _read_config(config_file: Path) -> dict:
    try:
        return json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(
            f"{config_file}: not valid JSON ({err.msg}, line {err.lineno})"
        ) from None


def _hub_config(name: str) -> dict:
    """The config.json of hub model ``name`` (downloaded or cached)."""
    try:
        config_file = cached_file(name, "config.json")
    except OSError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{name}: no such checkpoint folder, and no hub model of that name could be "
            f"loaded ({first})"
        ) from None
    return _read_config(Path(config_file))


def _model_class(config: dict, where: str) -> type[ITERForRelationExtraction]:
    if config.get("model_type") != "iter":
        raise CheckpointError(f"{where}: model_type is {config.get('model_type')!r}, not 'iter'")
    # The authors' checkpoints are converted by from_pretrained, which leaves out links
    # where their config or weights have none.
    if is_authors_config(config) or config.get("relation_types"):
        return ITERForRelationExtraction
    return ITER


def _load(
    cls: type[ITERForRelationExtraction], source: str | Path, device: str
) -> ITERForRelationExtraction:
    try:
        model = cls.from_pretrained(source)
    except CheckpointError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as err:
        raise CheckpointError(f"{source}: cannot load the model: {err}") from None
    if model.tokenizer is None:
        raise CheckpointError(f"{source}: no tokenizer files (tokenizer.json / vocab)")
    return model.to(device)
