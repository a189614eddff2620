"""Checkpoints saved by the authors' code (github.com/fleonce/ITER), loaded as our model.

Their ``config.json`` holds their own ``ITERConfig``: ``model_type`` "iter" as ours, but the
encoder's configuration under ``transformer_config``, the heads' output widths ``num_types``
and ``num_links``, the names ``entity_types`` and ``link_types``, ``max_nest_depth``, a bit
set ``features``, the resolved ``d_ff`` with ``use_scale`` (the pair heads are twice as wide),
``activation_fn``, ``dropout`` and the link ``threshold``. Their weights: the encoder under
``model.``, and three gated heads without biases, ``is_l`` (starts), ``lr_score`` (spans) and
``rr_score`` (links), each with ``gate``, ``wi`` and ``wo``.

Our heads keep the gate and the inner projection in one matrix (``gate_inner``: the gate's
rows first) and read pairs in the same column order as theirs ([start; end] for spans,
[tail; head] for links), so the conversion stacks two matrices per head and renames the rest.
The converted model decodes as their ``generate`` does (``decoding="authors"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerBase
from transformers.activations import ACT2FN
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.utils import cached_file

from iter.errors import CheckpointError, ConfigError
from iter.modeling.configuration import ITERConfig
from iter.modeling.encoder import hidden_size_of


class AuthorsCheckpointError(CheckpointError, ValueError):
    """An authors' checkpoint this library cannot load; the message names the field or weight."""


# Their feature bits (iter/modeling_features.py) that change what their generate computes in
# a way this model does not reproduce (or that their own generate cannot run).
UNSUPPORTED_FEATURES = {
    1: "sum representations",
    4: "log-sum-exp link loss, argmax links",
    6: "T5 decoder as decoder",
    7: "extra link class",
    12: "T5 decoder as an additional encoder",
    15: "cross-entropy link loss, argmax links",
    18: "inverted link types",
    19: "PL-Marker output",
}
EXTRA_SPAN_CLASS_BIT = 5
BATCH_AVERAGE_BIT = 8
NESTED_BIT = 9
NER_ONLY_BIT = 11

# Their head names and ours.
HEADS = {"is_l": "start_head", "lr_score": "span_head", "rr_score": "link_head"}
# Arguments of ``from_pretrained`` that say where the files come from.
HUB_KWARGS = (
    "cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies"
)  # fmt: skip
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
_MISSING = object()


def looks_like_hub_id(name: str) -> bool:
    """Whether ``name`` is spelled as a hub repository id (``name`` or ``owner/name``)."""
    return _HUB_ID.fullmatch(name) is not None and ".." not in name


def is_authors_config(raw: object) -> bool:
    """Whether a parsed config.json is the authors' (theirs has no ``encoder_config``)."""
    return (
        isinstance(raw, dict)
        and raw.get("model_type") == "iter"
        and "encoder_config" not in raw
        and ("transformer_config" in raw or "num_types" in raw)
    )


def _hub_kwargs(kwargs: dict) -> dict:
    return {key: kwargs[key] for key in HUB_KWARGS if kwargs.get(key) is not None}


def _first_line(err: BaseException, limit: int = 200) -> str:
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _fetch(source: str | Path, filename: str, kwargs: dict) -> str | None:
    """A file of the checkpoint, from its folder or the hub; None where there is none."""
    local = Path(str(source)).expanduser()
    if local.is_dir():
        path = local / (kwargs.get("subfolder") or "") / filename
        return str(path) if path.is_file() else None
    try:
        return cached_file(str(source), filename, **_hub_kwargs(kwargs))
    except OSError:
        return None


def read_authors_config(source: str | Path | None, kwargs: dict) -> dict | None:
    """The authors' config.json of ``source`` (a folder or a hub id); None for any other,
    and where ``kwargs`` bring a config of their own.

    A hub id whose config.json cannot be fetched raises transformers' ``OSError`` here, as
    its ``from_pretrained`` would: trying again there would double the wait on a machine
    without a connection.
    """
    if source is None or kwargs.get("config") is not None:
        return None
    if Path(str(source)).expanduser().is_dir():
        path = _fetch(source, "config.json", kwargs)
    elif looks_like_hub_id(str(source)):
        path = cached_file(str(source), "config.json", **_hub_kwargs(kwargs))
    else:
        return None
    if path is None:
        return None
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None  # transformers reports a broken config.json in its own words
    return raw if is_authors_config(raw) else None


def _read_weight_file(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def read_authors_weights(source: str | Path, kwargs: dict, where: str) -> dict[str, torch.Tensor]:
    """The checkpoint's state dict under their names (one file or the shards of an index)."""
    for name in WEIGHT_FILES:
        path = _fetch(source, name, kwargs)
        if path is None:
            continue
        files = [path]
        if name.endswith(".index.json"):
            shards = sorted(set(json.loads(Path(path).read_text())["weight_map"].values()))
            files = [_fetch(source, shard, kwargs) for shard in shards]
            absent = [shard for shard, file in zip(shards, files, strict=True) if file is None]
            if absent:
                raise AuthorsCheckpointError(f"{where}: weight shard {absent[0]} is missing")
        state: dict[str, torch.Tensor] = {}
        for file in files:
            state.update(_read_weight_file(file))
        return state
    raise AuthorsCheckpointError(f"{where}: no weights ({' or '.join(WEIGHT_FILES)})")


# ----------------------------------------------------------------------------- config
def _bad(where: str, name: str, value: object, expected: str) -> AuthorsCheckpointError:
    return AuthorsCheckpointError(
        f"{where}: authors' config field '{name}' is {value!r}; expected {expected}"
    )


def _field(raw: dict, name: str, where: str, default: object = _MISSING) -> object:
    if raw.get(name) is not None:
        return raw[name]
    if default is _MISSING:
        raise AuthorsCheckpointError(f"{where}: authors' config field '{name}' is missing")
    return default


def _integer(raw: dict, name: str, where: str, minimum: int, default: object = _MISSING) -> int:
    value = _field(raw, name, where, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(where, name, value, f"an integer >= {minimum}")
    return value


def _probability(raw: dict, name: str, where: str, default: float, below_one: bool) -> float:
    value = _field(raw, name, where, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(where, name, value, "a number in [0, 1" + (")" if below_one else "]"))
    if not 0 <= value <= 1 or (below_one and value == 1):
        raise _bad(where, name, value, "a number in [0, 1" + (")" if below_one else "]"))
    return float(value)


def _features(raw: dict, where: str) -> int:
    """Their feature bits, checked: the ones this library does not reproduce are refused."""
    value = _field(raw, "features", where, 0)
    if isinstance(value, list) and all(
        isinstance(bit, int) and not isinstance(bit, bool) and bit >= 0 for bit in value
    ):
        value = sum(1 << bit for bit in value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(where, "features", value, "a bit set (an integer >= 0)")
    refused = [
        f"bit {bit} ({name})" for bit, name in UNSUPPORTED_FEATURES.items() if value >> bit & 1
    ]
    if refused:
        raise AuthorsCheckpointError(
            f"{where}: authors' config field 'features' ({value}) sets {', '.join(refused)}, "
            "which this library does not reproduce"
        )
    nested, extra_class = value >> NESTED_BIT & 1, value >> EXTRA_SPAN_CLASS_BIT & 1
    if nested != extra_class:
        alone = "bit 9 (nest depth > 1)" if nested else "bit 5 (extra span class)"
        raise AuthorsCheckpointError(
            f"{where}: authors' config field 'features' ({value}) sets {alone} without bit "
            f"{EXTRA_SPAN_CLASS_BIT if nested else NESTED_BIT}; only both together (nested "
            "data with a NONE class) or neither are supported"
        )
    return value


def _encoder_config(raw: dict, where: str) -> dict:
    value = _field(raw, "transformer_config", where)
    if not isinstance(value, dict):
        raise _bad(where, "transformer_config", value, "the encoder's configuration (an object)")
    model_type = value.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING or model_type == "iter":
        raise _bad(
            where, "transformer_config.model_type", model_type, "an encoder type of transformers"
        )
    if model_type == "longt5":
        raise AuthorsCheckpointError(
            f"{where}: authors' config field 'transformer_config.model_type' is 'longt5', whose "
            "encoder-only model this library does not build"
        )
    settings = {key: item for key, item in value.items() if key != "model_type"}
    try:
        AutoConfig.for_model(model_type, **settings)
    except (ValueError, KeyError, TypeError) as err:
        raise AuthorsCheckpointError(
            f"{where}: authors' config field 'transformer_config' is not a valid "
            f"{model_type!r} configuration: {_first_line(err)}"
        ) from None
    return dict(value)


def _names(raw: dict, name: str, where: str) -> list[str]:
    value = _field(raw, name, where, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _bad(where, name, value, "a list of names")
    return value


def _entity_types(raw: dict, num_types: int, nested: bool, where: str) -> list[str]:
    """The entity type names; nested checkpoints count a NONE class in ``num_types``."""
    names = _names(raw, "entity_types", where)
    real = num_types - nested
    if nested and len(names) == num_types:
        names = names[:-1]  # the NONE class was named too
    if len(names) != real:
        raise AuthorsCheckpointError(
            f"{where}: authors' config field 'entity_types' has {len(names)} name(s), but "
            f"num_types ({num_types}{', NONE included' if nested else ''}) needs {real}"
        )
    return names


def _link_types(raw: dict, num_links: int, where: str) -> list[str]:
    """The relation type names; their generate reports link type ids, so unnamed types are
    named by their id."""
    names = _names(raw, "link_types", where)
    if not names:
        return [str(index) for index in range(num_links)]
    if len(names) != num_links:
        raise AuthorsCheckpointError(
            f"{where}: authors' config field 'link_types' has {len(names)} name(s), but "
            f"num_links is {num_links}"
        )
    return names


def authors_config(raw: dict, where: str, link_weights: bool) -> ITERConfig:
    """Our configuration for the authors' ``raw`` config.json; ``link_weights``: whether the
    checkpoint has a link head (and the model to build predicts links)."""
    features = _features(raw, where)
    nested = bool(features >> NESTED_BIT & 1)
    encoder_config = _encoder_config(raw, where)
    num_types = _integer(raw, "num_types", where, 2 if nested else 1)
    depth = _integer(raw, "max_nest_depth", where, 2 if nested else 1, default=1)
    if raw.get("use_gate", True) is not True:
        raise _bad(where, "use_gate", raw.get("use_gate"), "true (gated heads)")
    activation = _field(raw, "activation_fn", where, "gelu")
    if not isinstance(activation, str) or activation not in ACT2FN:
        raise _bad(where, "activation_fn", activation, "an activation known to transformers")
    d_ff = _integer(raw, "d_ff", where, 0, default=0)
    use_scale = _field(raw, "use_scale", where, d_ff == 0)
    if not isinstance(use_scale, bool):
        raise _bad(where, "use_scale", use_scale, "true or false")
    num_links = _integer(raw, "num_links", where, 0, default=0) if link_weights else 0
    links = num_links > 0 and not features >> NER_ONLY_BIT & 1
    max_length = raw.get("max_length")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        max_length = 512
    dataset = raw.get("dataset")
    try:
        return ITERConfig(
            encoder_config=encoder_config,
            entity_types=_entity_types(raw, num_types, nested, where),
            relation_types=_link_types(raw, num_links, where) if links else [],
            nesting_depth=depth if nested else 1,
            d_ff=d_ff,
            double_pair_width=use_scale,
            dropout=_probability(raw, "dropout", where, 0.3, below_one=True),
            activation=activation,
            link_threshold=_probability(raw, "threshold", where, 0.5, below_one=False),
            loss_reduction="batch" if features >> BATCH_AVERAGE_BIT & 1 else "sum",
            max_sequence_length=max_length,
            base_model_name=encoder_config.get("_name_or_path") or None,
            dataset=dataset if isinstance(dataset, str) else None,
            decoding="authors",
        )
    except ConfigError as err:
        raise AuthorsCheckpointError(f"{where}: {err}") from None


# ----------------------------------------------------------------------------- weights
def _head_shapes(config: ITERConfig) -> dict[str, tuple[tuple[int, int], tuple[int, int], str]]:
    """Per head of ours: the shapes of their ``gate``/``wi`` and of ``wo``, and the fields
    of their config that set them."""
    width = hidden_size_of(config.build_encoder_config())
    pair = config.pair_d_ff
    span_classes = len(config.entity_types) + int(config.has_none_class)
    shapes = {
        "start_head": ((config.d_ff, width), (1, config.d_ff), "d_ff and the encoder's width"),
        "span_head": ((pair, 2 * width), (span_classes, pair), "d_ff, use_scale and num_types"),
    }
    if config.relation_types:
        link_out = (len(config.relation_types), pair)
        shapes["link_head"] = ((pair, 2 * width), link_out, "d_ff, use_scale and num_links")
    return shapes


def _convert_head(
    state: dict[str, torch.Tensor], theirs: str, shapes: tuple, where: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(gate_inner, out) of one head: their ``gate`` and ``wi`` stacked, gate rows first."""
    names = [f"{theirs}.{part}.weight" for part in ("gate", "wi", "wo")]
    extra = sorted(key for key in state if key.startswith(theirs + ".") and key not in names)
    if extra:
        raise AuthorsCheckpointError(
            f"{where}: weight {extra[0]} is not supported (their heads are gate, wi, wo, no biases)"
        )
    for name in names:
        if name not in state:
            raise AuthorsCheckpointError(f"{where}: weight {name} is missing")
    first, out_shape, fields = shapes
    for name, shape in zip(names, (first, first, out_shape), strict=True):
        if tuple(state[name].shape) != shape:
            raise AuthorsCheckpointError(
                f"{where}: weight {name} has shape {list(state[name].shape)}, but config.json "
                f"({fields}) implies {list(shape)}"
            )
    return torch.cat((state[names[0]], state[names[1]]), dim=0), state[names[2]]


def convert_weights(
    state: dict[str, torch.Tensor], config: ITERConfig, where: str
) -> dict[str, torch.Tensor]:
    """Our state dict from theirs: ``model.*`` → ``encoder.*``, each head's ``gate`` and
    ``wi`` → ``gate_inner``, ``wo`` → ``out``. A link head the model does not have is left
    out."""
    unknown = sorted(
        key for key in state if not key.startswith("model.") and key.split(".")[0] not in HEADS
    )
    if unknown:
        raise AuthorsCheckpointError(
            f"{where}: weight {unknown[0]} is not part of the authors' ITER "
            "(model.*, is_l.*, lr_score.*, rr_score.*)"
        )
    converted = {
        "encoder." + key[len("model.") :]: value
        for key, value in state.items()
        if key.startswith("model.")
    }
    ours_to_theirs = {ours: theirs for theirs, ours in HEADS.items()}
    for ours, shapes in _head_shapes(config).items():
        gate_inner, out = _convert_head(state, ours_to_theirs[ours], shapes, where)
        converted[f"{ours}.gate_inner.weight"] = gate_inner
        converted[f"{ours}.out.weight"] = out
    return converted


def load_authors_tokenizer(
    source: str | Path, raw: dict, kwargs: dict
) -> PreTrainedTokenizerBase | None:
    """The tokenizer in the checkpoint's folder or, as their code loads it, the one of the
    encoder it was trained from (``transformer_config._name_or_path``); None without either."""
    encoder = raw.get("transformer_config") or {}
    model_type = str(encoder.get("model_type", ""))
    # Their code loads RoBERTa and BART tokenizers with a prefix space.
    extra = {"add_prefix_space": True} if "roberta" in model_type or "bart" in model_type else {}
    candidates = [(str(source), _hub_kwargs(kwargs))]
    name = encoder.get("_name_or_path")
    if isinstance(name, str) and name and name != str(source):
        candidates.append((name, {}))
    for candidate, hub in candidates:
        try:
            return AutoTokenizer.from_pretrained(candidate, **hub, **extra)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            continue
    return None


def load_authors_checkpoint(
    cls: type,
    base_from_pretrained: Callable,
    source: str | Path,
    raw: dict,
    entities_only: bool,
    *args,
    **kwargs,
):
    """``cls.from_pretrained`` for a checkpoint of the authors' code (``raw``: its config.json).

    ``base_from_pretrained``: transformers' ``from_pretrained`` bound to ``cls``, which builds
    the model from our converted config and state dict. ``entities_only``: the class predicts
    no links (``ITER``), so a link head in the checkpoint is left unused, as theirs leaves it.
    """
    where = str(source)
    state = read_authors_weights(source, kwargs, where)
    link_weights = not entities_only and "rr_score.wo.weight" in state
    config = authors_config(raw, where, link_weights)
    converted = convert_weights(state, config, where)
    del state
    want_info = kwargs.pop("output_loading_info", False)
    loading = {key: value for key, value in kwargs.items() if key not in HUB_KWARGS}
    model, info = base_from_pretrained(
        None, *args, config=config, state_dict=converted, output_loading_info=True, **loading
    )
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        theirs = re.sub(r"^encoder\.", "model.", missing[0])
        raise AuthorsCheckpointError(
            f"{where}: {len(missing)} weights are missing (first: {theirs}); the checkpoint "
            "does not match its transformer_config"
        )
    model.tokenizer = load_authors_tokenizer(source, raw, kwargs)
    return (model, info) if want_info else model
