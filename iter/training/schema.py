"""The schema of a training config: every group's keys, their types and allowed values.

A composed config is checked here before anything runs: by ``iter train`` / ``train.py``
before Hydra starts the job, by the sweep callback for every job of a multirun before any
is launched or queued, and by :func:`iter.training.run.train_from_config` for callers from
Python. A wrong key, type or value ends in one :class:`~iter.errors.ConfigError` naming the
key, e.g. ``model.dropout: expected a number, got 'abc'``.

The dataclasses state types only; the values live in the YAML files of ``configs/``, which
users read. So a field is ``MISSING`` where every option of its group sets it, and has a
default only where some option may leave it out (the ``none`` logger, ADE's ``fold``).
Value rules are not restated here: they are the ones of the objects the config becomes
(:class:`TrainerSettings`, :class:`ITERConfig`, :class:`DatasetSpec`), built here on the
composed values so that they fail now rather than after data and encoder are loaded.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional  # noqa: UP035 - OmegaConf reads these hints

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from iter.errors import ConfigError, unknown_setting_message

# Hardware is not checked here (a cluster's login node has no GPU; its jobs do), only the form.
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
LOGGERS = ("wandb", "none")
WANDB_MODES = ("offline", "online", "disabled")


# OmegaConf reads the field types at run time, so they are written as typing's aliases
# (``Optional[int]``), which it understands, rather than ``int | None``.
@dataclass
class ModelSchema:
    name: str = MISSING
    transformer: str = MISSING
    d_ff: int = MISSING
    dropout: float = MISSING
    activation: str = MISSING
    max_length: int = MISSING
    link_threshold: float = MISSING
    span_objective: str = MISSING
    link_pairs: str = MISSING
    loss_reduction: str = MISSING
    head_input_dropout: bool = MISSING
    span_representation: Optional[str] = None  # noqa: UP045
    link_type_embedding: bool = False
    link_context: str = "none"
    link_distance: bool = False
    layer_mix: str = "last"
    inverse_link_types: bool = False
    signature_constraint: bool = False
    drop_overlapping_spans: bool = False


@dataclass
class DatasetSchema:
    name: str = MISSING
    data_dir: str = MISSING
    files: Dict[str, str] = MISSING  # noqa: UP006
    train_splits: List[str] = MISSING  # noqa: UP006
    dev_split: str = MISSING
    test_split: str = MISSING
    # null: read the types from the training files (a folder of your own data).
    entity_types: Optional[List[str]] = MISSING  # noqa: UP006, UP045
    relation_types: Optional[List[str]] = MISSING  # noqa: UP006, UP045
    symmetric_relation_types: List[str] = MISSING  # noqa: UP006
    nesting_depth: Optional[int] = MISSING  # noqa: UP045 - null: read from the data
    metric_average: str = MISSING
    selection_metric: Optional[str] = MISSING  # noqa: UP045 - null: by the data's relations
    context_window: int = MISSING
    word_splitter: str = MISSING
    sentence_splitter: str = MISSING
    fold: Optional[int] = None  # noqa: UP045 - cross-validation datasets (ADE)


@dataclass
class TrainerSchema:
    max_epochs: int = MISSING
    patience: int = MISSING
    batch_size: int = MISSING
    eval_batch_size: int = MISSING
    encoder_lr: float = MISSING
    head_lr: float = MISSING
    encoder_weight_decay: float = MISSING
    head_weight_decay: float = MISSING
    encoder_warmup: float = MISSING
    head_warmup: float = MISSING
    encoder_schedule: str = MISSING
    head_schedule: str = MISSING
    gradient_clip: Optional[float] = MISSING  # noqa: UP045
    precision: str = MISSING
    device: str = MISSING
    num_threads: Optional[int] = None  # noqa: UP045
    limit_train_batches: Optional[int] = None  # noqa: UP045
    deterministic: bool = MISSING
    select_best: bool = MISSING
    group_by_length: bool = False
    ema_decay: Optional[float] = None  # noqa: UP045
    flush_denormals: bool = True
    tune_link_threshold: bool = False
    mention_replacement: float = 0.0


@dataclass
class LoggerSchema:
    name: str = MISSING
    project: str = "iter"
    entity: Optional[str] = None  # noqa: UP045
    mode: str = "offline"
    group: Optional[str] = None  # noqa: UP045
    tags: List[str] = field(default_factory=list)  # noqa: UP006
    log_every_n_steps: int = 10


@dataclass
class PathsSchema:
    root_dir: str = MISSING
    data_dir: str = MISSING
    output_dir: str = MISSING
    cache_dir: str = MISSING


@dataclass
class TrainSchema:
    seed: int = MISSING
    sweep_name: str = MISSING
    resume: Any = False  # false, true (this run folder) or a run folder's path
    command: Optional[str] = None  # noqa: UP045
    trainer: TrainerSchema = field(default_factory=TrainerSchema)
    model: ModelSchema = field(default_factory=ModelSchema)
    dataset: DatasetSchema = field(default_factory=DatasetSchema)
    logger: LoggerSchema = field(default_factory=LoggerSchema)
    paths: PathsSchema = field(default_factory=PathsSchema)


def validate_config(cfg: DictConfig) -> TrainSchema:
    """Check a composed training config (its ``hydra`` node aside) against the schema and
    the value rules; returns the typed config. Raises :class:`ConfigError` naming the key."""
    values = _resolved(cfg)
    typed = _typed(values)
    _check_values(typed)
    return typed


def with_schema_defaults(values: dict, schema: type = TrainSchema) -> dict:
    """``values`` (a stored run's config) with the keys it lacks that the schema gives a
    default: an option added after the run was trained, at its default, is the same run."""
    filled = dict(values)
    hints = typing.get_type_hints(schema)
    for item in dataclasses.fields(schema):
        hint = _without_none(hints[item.name])
        if dataclasses.is_dataclass(hint):
            if isinstance(filled.get(item.name), dict):
                filled[item.name] = with_schema_defaults(filled[item.name], hint)
        elif item.name not in filled:
            if item.default is not dataclasses.MISSING and item.default != MISSING:
                filled[item.name] = item.default
            elif item.default_factory is not dataclasses.MISSING:
                filled[item.name] = item.default_factory()
    return filled


def _resolved(cfg: DictConfig) -> dict:
    plain = OmegaConf.to_container(cfg, resolve=False)
    plain.pop("hydra", None)
    try:
        return OmegaConf.to_container(OmegaConf.create(plain), resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{_key_of(err)}: {_first_line(err)}") from None


def _typed(values: dict) -> TrainSchema:
    _check_kinds(values, TrainSchema, "")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(TrainSchema), values)
        return OmegaConf.to_object(merged)
    except (ConfigKeyError, ConfigAttributeError) as err:
        raise ConfigError(_unknown_key_message(err)) from None
    except MissingMandatoryValue as err:
        raise ConfigError(f"{_key_of(err)}: needs a value (it is ??? in the config)") from None
    except ValidationError as err:
        key = _key_of(err)
        expected = _expected_kind(key)
        raise ConfigError(f"{key}: expected {expected}, got {_lookup(values, key)!r}") from None


def _check_kinds(value: object, hint: object, key: str) -> None:
    """Each value of the kind its field states, as given: OmegaConf would turn ``1`` into
    true or ``"5"`` into 5, but the run reads the composed values, which must be the same."""
    if value is None or value == "???":  # null and missing values: merging judges them
        if value is None and not _optional(hint) and hint is not Any:
            raise ConfigError(f"{key}: expected {_expected_kind(key)}, got None")
        return
    bare = _without_none(hint)
    origin = typing.get_origin(bare)
    if dataclasses.is_dataclass(bare):
        ok = isinstance(value, dict)
    elif origin in (list, dict):
        ok = isinstance(value, origin)
    elif bare is bool:
        ok = isinstance(value, bool)
    elif bare in (int, float):
        ok = isinstance(value, int | float if bare is float else int) and not isinstance(
            value, bool
        )
    else:
        ok = bare is Any or isinstance(value, bare)
    if not ok:
        raise ConfigError(f"{key}: expected {_expected_kind(key)}, got {value!r}")
    if dataclasses.is_dataclass(bare):
        hints = typing.get_type_hints(bare)
        for name, item in value.items():
            if name in hints:  # unknown keys: merging names them with a suggestion
                _check_kinds(item, hints[name], f"{key}.{name}" if key else name)
    elif origin is list:
        for index, item in enumerate(value):
            _check_kinds(item, typing.get_args(bare)[0], f"{key}.{index}")
    elif origin is dict:
        for name, item in value.items():
            _check_kinds(item, typing.get_args(bare)[1], f"{key}.{name}")


def _optional(hint: object) -> bool:
    return typing.get_origin(hint) is typing.Union and type(None) in typing.get_args(hint)


def _check_values(typed: TrainSchema) -> None:
    if typed.seed < 0:
        raise ConfigError(f"seed: must be a non-negative integer, got {typed.seed}")
    if not isinstance(typed.resume, bool | str):
        raise ConfigError(f"resume: must be true, false or a run folder, got {typed.resume!r}")
    _check_model(typed.model)
    _check_dataset(typed.dataset)
    _check_trainer(typed.trainer, typed.logger)
    _check_logger(typed.logger)
    if typed.trainer.tune_link_threshold and typed.dataset.dev_split in typed.dataset.train_splits:
        raise ConfigError(
            f"trainer.tune_link_threshold: the dev split {typed.dataset.dev_split!r} is also "
            "trained on (dataset.train_splits), so a threshold chosen on it would be optimistic"
        )


def _check_model(model: ModelSchema) -> None:
    from iter.modeling.configuration import ITERConfig

    if model.max_length < 1:
        raise ConfigError(f"model.max_length: must be >= 1, got {model.max_length}")
    if not 0 < model.link_threshold < 1:
        raise ConfigError(f"model.link_threshold: must be in (0, 1), got {model.link_threshold}")
    # The model's own configuration states the rules of every head setting; no encoder yet.
    ITERConfig(
        d_ff=model.d_ff,
        dropout=model.dropout,
        activation=model.activation,
        head_input_dropout=model.head_input_dropout,
        span_objective=model.span_objective,
        link_pairs=model.link_pairs,
        loss_reduction=model.loss_reduction,
        link_type_embedding=model.link_type_embedding,
        link_context=model.link_context,
        link_distance=model.link_distance,
        layer_mix=model.layer_mix,
        inverse_link_types=model.inverse_link_types,
        link_threshold=model.link_threshold,
        span_representation=model.span_representation,
        max_sequence_length=model.max_length,
    )


def _check_dataset(dataset: DatasetSchema) -> None:
    from iter.data.registry import DatasetSpec
    from iter.inference.text import SENTENCE_SPLITTERS, WORD_SPLITTERS

    if dataset.context_window < 0:
        raise ConfigError(f"dataset.context_window: must be >= 0, got {dataset.context_window}")
    for key, choices in (
        ("word_splitter", WORD_SPLITTERS),
        ("sentence_splitter", SENTENCE_SPLITTERS),
    ):
        if getattr(dataset, key) not in choices:
            raise ConfigError(
                f"dataset.{key}: {getattr(dataset, key)!r} is not one of {', '.join(choices)}"
            )
    values = dataclasses.asdict(dataset)
    # Types left null are read from the training files later; stand-ins let the other rules
    # (splits, averages, symmetric types) be checked now.
    if values["entity_types"] is None:
        values["entity_types"] = ["?"]
    if values["relation_types"] is None:
        values["relation_types"] = [*values["symmetric_relation_types"], "?"]
    if values["nesting_depth"] is None:
        values["nesting_depth"] = 1
    if values["selection_metric"] is None:
        values["selection_metric"] = "ner"
    DatasetSpec.from_config(values)


def _check_trainer(trainer: TrainerSchema, logger: LoggerSchema) -> None:
    from iter.runtime.precision import PRECISIONS
    from iter.training.trainer import TrainerSettings

    if trainer.precision not in PRECISIONS:
        raise ConfigError(
            f"trainer.precision: {trainer.precision!r} is not one of {', '.join(PRECISIONS)}"
        )
    if not DEVICE_PATTERN.match(trainer.device):
        raise ConfigError(f"trainer.device: {trainer.device!r} is not auto, cpu, cuda or cuda:N")
    if trainer.num_threads is not None and trainer.num_threads < 1:
        raise ConfigError(f"trainer.num_threads: must be >= 1 or null, got {trainer.num_threads}")
    names = set(TrainerSettings.__dataclass_fields__) - {"metric_average", "log_every_n_steps"}
    TrainerSettings(
        **{name: getattr(trainer, name) for name in names},
        log_every_n_steps=logger.log_every_n_steps,
    )


def _check_logger(logger: LoggerSchema) -> None:
    if logger.name not in LOGGERS:
        raise ConfigError(f"logger.name: {logger.name!r} is not one of {', '.join(LOGGERS)}")
    if logger.mode not in WANDB_MODES:
        raise ConfigError(f"logger.mode: {logger.mode!r} is not one of {', '.join(WANDB_MODES)}")
    if logger.log_every_n_steps < 1:
        raise ConfigError(f"logger.log_every_n_steps: must be >= 1, got {logger.log_every_n_steps}")


# ----------------------------------------------------------------------------- messages
def _first_line(err: Exception) -> str:
    message = getattr(err, "msg", None) or str(err)
    return message.strip().splitlines()[0]


def _key_of(err: OmegaConfBaseException) -> str:
    return str(getattr(err, "full_key", "") or "config")


def _hint_at(key: str) -> object:
    """The schema's type at a dotted key (an element's type inside lists and mappings);
    None where the schema has no such key."""
    hint: object = TrainSchema
    for part in key.split(".") if key else []:
        hint = _without_none(hint)
        origin = typing.get_origin(hint)
        if dataclasses.is_dataclass(hint):
            hint = typing.get_type_hints(hint).get(part)
        elif origin in (list, dict):
            hint = typing.get_args(hint)[-1]
        else:
            return None
        if hint is None:
            return None
    return hint


def _without_none(hint: object) -> object:
    if typing.get_origin(hint) is typing.Union:
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _expected_kind(key: str) -> str:
    hint = _hint_at(key)
    optional = _optional(hint)
    bare = _without_none(hint)
    kind = typing.get_origin(bare) or bare
    words = {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(kind, "a value of another type")
    return f"{words} or null" if optional else words


def _lookup(values: dict, key: str) -> object:
    node: object = values
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _unknown_key_message(err: OmegaConfBaseException) -> str:
    key = _key_of(err)
    owner = _without_none(_hint_at(key.rpartition(".")[0]))
    known = [f.name for f in dataclasses.fields(owner)] if dataclasses.is_dataclass(owner) else []
    return unknown_setting_message(key, known)
