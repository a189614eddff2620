"""``iter.train(...)``: training from Python, with the config that ``train.py`` composes.

    import iter

    result = iter.train(dataset="conll04", seed=2, trainer={"max_epochs": 3})
    result = iter.train(dataset="path/to/my/data", logger="none", **{"model.dropout": 0.2})
    print(result.test.re_plus, result.checkpoint)

Settings are keyword arguments, named as the Hydra config names them (``configs/``):

- a config group given a string picks that option: ``model="bert-base"``, ``logger="none"``,
  ``debug="short"``, ``experiment="conll04_final"`` (``train.py model=bert-base``);
- a dict sets keys inside a group or node: ``trainer={"max_epochs": 3}`` (only the keys
  given; ``train.py trainer.max_epochs=3``);
- a dotted name sets one key: ``**{"model.dropout": 0.1}``; a plain name a top-level key:
  ``sweep_name="x"``.

As on the command line, a setting must exist in the config; its type and value are checked
by the schema before anything is read or trained. ``dataset`` is a registered name or the
path of a folder of your own data (``configs/dataset/folder.yaml``; docs/own-data.md).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iter.config import config_dir
from iter.errors import ConfigError, hydra_error_line, unknown_setting_message
from iter.training.files import METRICS_FILE

if TYPE_CHECKING:
    from omegaconf import DictConfig

# The options a config group offers besides its shared ``base``; "hydra" is Hydra's own.
_NOT_OPTIONS = ("base",)
_HIDDEN_GROUPS = ("hydra",)
# Where a folder of your own data goes (configs/dataset/folder.yaml).
FOLDER_CONFIG = "folder"


@dataclass(frozen=True)
class Scores:
    """One split's F1 scores (0..1) in the dataset's average (micro; macro for ADE)."""

    ner: float
    re: float
    re_plus: float


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns: the run folder, its selected checkpoint and scores.

    ``metrics`` is the run's ``metrics.json`` (every epoch's losses and dev scores; the test
    scores per task, average and type; the dev scores of the selected checkpoint).
    """

    run_dir: Path
    checkpoint: Path
    test: Scores
    dev: Scores
    average: str
    metrics: dict


def train(
    dataset: str | Path = "conll04",
    transformer: str | Path | None = None,
    seed: int = 1,
    *,
    output_dir: str | Path | None = None,
    **settings: object,
) -> TrainResult:
    """Train ITER as ``train.py --dataset D --transformer T --seed S [settings]`` would.

    ``dataset``: a registered dataset (``conll04``) or a folder of JSON files in the common
    format (its types, nesting depth and selection metric read from its training files
    unless set). ``transformer``: an encoder's hub name or folder (``--transformer``); the
    model is named after it. ``output_dir``: the run folder; by default
    ``<paths.output_dir>/runs/<dataset>/<model>/seed<seed>-<time>``, as for ``train.py``
    (a folder holding a finished run of the same config returns that run's scores).
    ``settings``: config keys, see the module's docstring.

    Raises :class:`~iter.errors.ConfigError` for a wrong argument, naming it.
    """
    from iter.training.run import train_from_config

    cfg, run_dir = _compose(dataset, transformer, seed, settings)
    if output_dir is not None:
        run_dir = Path(output_dir).expanduser().resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    with _run_log(run_dir):
        metrics = train_from_config(cfg, run_dir)
    if "skipped" in metrics:
        raise ConfigError(f"output_dir: {metrics['skipped']} is being trained by another process")
    return _result(_trained_folder(cfg, run_dir), str(cfg.dataset.metric_average))


def compose_train_config(
    dataset: str | Path = "conll04",
    transformer: str | Path | None = None,
    seed: int = 1,
    **settings: object,
) -> DictConfig:
    """The config :func:`train` trains with for these arguments, checked by the schema (no
    ``hydra`` node, as a ``train.py`` job sees it; ``command`` is the Python call)."""
    return _compose(dataset, transformer, seed, settings)[0]


# ----------------------------------------------------------------------------- composing
def _compose(
    dataset: str | Path, transformer: str | Path | None, seed: int, settings: Mapping
) -> tuple[DictConfig, Path]:
    """The checked config and the run folder ``train.py`` would give it."""
    from omegaconf import open_dict

    from iter.cli.flags import model_overrides
    from iter.training.schema import validate_config

    settings = {key: _plain_value(value) for key, value in settings.items()}
    groups, values = _split_settings(settings)
    for key, value in _dataset_values(dataset, groups).items():
        if key in values:
            raise ConfigError(f"{key}: given twice (dataset= names the folder)")
        values[key] = value
    values = {"seed": seed, **values}
    if transformer is not None:
        _add_transformer(transformer, values)
    named = "model.name" in values or any(group.startswith("model=") for group in groups)
    if "model.transformer" in values and not named:
        # As --transformer: the run folder, W&B and the card name the encoder trained.
        groups += model_overrides(str(values["model.transformer"]))
    values.setdefault("command", _python_call(dataset, transformer, seed, settings))
    cfg = _compose_groups(groups)
    for key, value in values.items():
        _set(cfg, key, value)
    run_dir = Path(str(cfg.hydra.run.dir))
    with open_dict(cfg):
        del cfg["hydra"]
    validate_config(cfg)
    return cfg, run_dir


def _split_settings(settings: Mapping[str, object]) -> tuple[list[str], dict[str, object]]:
    """Group selections (as Hydra overrides) and values (dotted key -> value) of the keyword
    settings; a nested dict becomes its leaves, so it sets only the keys it names."""
    group_names = _groups()
    groups: list[str] = []
    values: dict[str, object] = {}
    for key, value in settings.items():
        if key.split(".")[0] == "hydra":
            raise ConfigError(f"{key}: Hydra's own settings belong to train.py (no Hydra app here)")
        if key in group_names and (isinstance(value, str) or value is None):
            groups.append(_group_override(key, value))
            continue
        for leaf, leaf_value in _leaves(key, value):
            if leaf in values:
                raise ConfigError(f"{leaf}: given twice")
            values[leaf] = leaf_value
    return groups, values


def _leaves(key: str, value: object) -> Iterator[tuple[str, object]]:
    if isinstance(value, Mapping) and value:
        for name, inner in value.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{key}: keys must be non-empty strings, got {name!r}")
            yield from _leaves(f"{key}.{name}", inner)
    else:
        yield key, value


def _groups() -> list[str]:
    folder = config_dir()
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in _HIDDEN_GROUPS)


def _options(group: str) -> list[str]:
    stems = (p.stem for p in (config_dir() / group).glob("*.yaml"))
    return sorted(stem for stem in stems if stem not in _NOT_OPTIONS)


def _optional_groups() -> list[str]:
    """The groups that ``train.yaml`` may leave without an option: those without one by
    default (``debug: null``) and those marked optional (``optional model_dataset: ...``)."""
    from omegaconf import OmegaConf

    # Unresolved: an entry may interpolate other groups (``${model}_${dataset}``).
    defaults = OmegaConf.to_container(OmegaConf.load(config_dir() / "train.yaml").defaults)
    groups = []
    for entry in defaults:
        if not isinstance(entry, Mapping):
            continue
        for key, option in entry.items():
            marker, _, group = key.rpartition(" ")
            if option is None or marker == "optional":
                groups.append(group)
    return groups


def _group_override(group: str, value: str | None) -> str:
    """The Hydra override that picks ``value`` in ``group``; None: no option at all."""
    if value is None:
        optional = _optional_groups()
        if group not in optional:
            raise ConfigError(f"{group}: needs an option; only {', '.join(optional)} may be None")
        return f"~{group}"
    options = _options(group)
    if value not in options:
        raise ConfigError(f"{group}: no option {value!r}; options: {', '.join(options)}")
    return f"{group}={value}"


def _dataset_values(dataset: str | Path, groups: list[str]) -> dict[str, object]:
    """Selects the dataset's config (into ``groups``); for a folder, the values that point
    the folder config at it."""
    from iter.data.registry import dataset_names

    if not isinstance(dataset, str | Path) or not str(dataset):
        raise ConfigError(f"dataset: expected a dataset name or a folder, got {dataset!r}")
    names = dataset_names()
    # A registered name wins over a folder of that name in the working directory:
    # "./conll04" is the folder. "folder" itself wants dataset.data_dir among the settings.
    if isinstance(dataset, str) and dataset in names:
        groups.append(f"dataset={dataset}")
        return {}
    folder = Path(dataset).expanduser()
    if not folder.is_dir():
        looks_like_path = isinstance(dataset, Path) or any(c in dataset for c in "/\\.~")
        if looks_like_path:
            raise ConfigError(f"dataset: {folder} is not a folder")
        raise ConfigError(
            f"dataset: unknown dataset {dataset!r}; a registered one "
            f"({', '.join(n for n in names if n != FOLDER_CONFIG)}) or a folder of JSON files"
        )
    groups.append(f"dataset={FOLDER_CONFIG}")
    return {"dataset.data_dir": str(folder.resolve())}


def _add_transformer(transformer: str | Path, values: dict[str, object]) -> None:
    if not isinstance(transformer, str | Path) or not str(transformer):
        raise ConfigError(f"transformer: expected a hub name or a folder, got {transformer!r}")
    if "model.transformer" in values:
        raise ConfigError("transformer: given twice (transformer= and model.transformer)")
    values["model.transformer"] = str(transformer)


def _compose_groups(groups: list[str]) -> DictConfig:
    """The composed config with its ``hydra`` node (for the run folder's name); Hydra's
    global state is as before once this returns, so it can be called again."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(
            config_dir=str(config_dir()), job_name="train", version_base="1.3"
        ):
            return compose(config_name="train", overrides=groups, return_hydra_config=True)
    except HydraException as err:
        raise ConfigError(f"{' '.join(groups)}: {hydra_error_line(err)}") from None


def _set(cfg: DictConfig, key: str, value: object) -> None:
    """Set ``key`` as ``train.py key=value`` would: a key that is not in the config is an
    error naming it and its closest known neighbour."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key, throw_on_missing=False) if parent_key else cfg
    known = [str(k) for k in parent] if isinstance(parent, DictConfig) else []
    if leaf not in known:
        raise ConfigError(unknown_setting_message(key, known))
    try:
        OmegaConf.update(cfg, key, value, merge=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{key}: {str(err).splitlines()[0]}") from None


def _plain_value(value: object) -> object:
    """Paths as strings (the config holds strings); containers likewise, all the way down."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _plain_value(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_value(inner) for inner in value]
    return value


def _python_call(
    dataset: str | Path, transformer: str | Path | None, seed: int, settings: Mapping
) -> str:
    """The call as the user wrote it, for the model card's "exact command" (the run folder
    is left out, as the command line leaves out Hydra's)."""
    args = [f"dataset={str(dataset)!r}"]
    if transformer is not None:
        args.append(f"transformer={str(transformer)!r}")
    args.append(f"seed={seed!r}")
    dotted = {key: value for key, value in settings.items() if not key.isidentifier()}
    args += [f"{key}={value!r}" for key, value in settings.items() if key.isidentifier()]
    if dotted:
        args.append(f"**{dotted!r}")
    return f"iter.train({', '.join(args)})"


# ----------------------------------------------------------------------------- the run
@contextmanager
def _run_log(run_dir: Path) -> Iterator[None]:
    """The run's ``train.log``, which Hydra's job logging writes for ``train.py``: iter's
    messages (INFO and above) while the run trains, on the rank that writes the folder."""
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    package = logging.getLogger("iter")
    handler = logging.FileHandler(run_dir / "train.log", delay=True)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    level = package.level
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    package.addHandler(handler)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(level)
        handler.close()


def _trained_folder(cfg: DictConfig, run_dir: Path) -> Path:
    """The folder the run trained in: ``run_dir``, or the run folder that ``resume`` named."""
    resume = cfg.get("resume")
    if isinstance(resume, str) and resume not in ("", "true", "false"):
        return Path(resume)
    return run_dir


def _result(folder: Path, average: str) -> TrainResult:
    from iter.training.run import BEST_CHECKPOINT

    metrics = json.loads((folder / METRICS_FILE).read_text())

    def scores(split: Mapping) -> Scores:
        return Scores(*(float(split[task][average]["f1"]) for task in ("ner", "re", "re_plus")))

    return TrainResult(
        run_dir=folder,
        checkpoint=folder / BEST_CHECKPOINT,
        test=scores(metrics["scores"]),
        dev=scores(metrics["dev"]),
        average=average,
        metrics=metrics,
    )
