"""What the project knows about each dataset: files, types, nesting depth, metric, splits.

The facts live in ``configs/dataset/<name>.yaml`` (one place; what most datasets share, the
defaults below, in ``configs/dataset/base.yaml``); :class:`DatasetSpec` is their typed,
validated form, built from the composed Hydra config.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from iter.config import config_dir
from iter.data.document import Document
from iter.data.folder import fill_from_training_data
from iter.data.reader import read_documents
from iter.errors import ConfigError, DatasetFormatError
from iter.tasks import AVERAGES, TASKS

logger = logging.getLogger(__name__)

CONFIG_DIR = config_dir()
# The dataset config for your own data: a folder of files in the common JSON format.
FOLDER = "folder"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    data_dir: str
    files: Mapping[str, str]
    entity_types: tuple[str, ...]
    relation_types: tuple[str, ...] = ()
    symmetric_relation_types: tuple[str, ...] = ()
    nesting_depth: int = 1
    metric_average: str = "micro"
    selection_metric: str = "re_plus"
    train_splits: tuple[str, ...] = ("train",)
    dev_split: str = "dev"
    test_split: str = "test"
    context_window: int = 0
    # How the corpus split raw text into words and sentences; a checkpoint records it so that
    # predict() splits text the same way (iter.inference.text.TextSplitting).
    word_splitter: str = "treebank"
    sentence_splitter: str = "pysbd"
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.metric_average not in AVERAGES:
            raise ConfigError(
                f"dataset {self.name}: metric_average must be micro or macro, "
                f"got {self.metric_average!r}"
            )
        if self.selection_metric not in TASKS:
            raise ConfigError(
                f"dataset {self.name}: selection_metric must be one of {', '.join(TASKS)}, "
                f"got {self.selection_metric!r}"
            )
        if self.selection_metric != "ner" and not self.relation_types:
            raise ConfigError(f"dataset {self.name}: has no relation types; select on 'ner'")
        if self.nesting_depth < 1:
            raise ConfigError(f"dataset {self.name}: nesting_depth must be >= 1")
        unknown = set(self.symmetric_relation_types) - set(self.relation_types)
        if unknown:
            raise ConfigError(
                f"dataset {self.name}: symmetric types {sorted(unknown)} are not relation types"
            )
        for split in (*self.train_splits, self.dev_split, self.test_split):
            if split not in self.files:
                raise ConfigError(
                    f"dataset {self.name}: split {split!r} has no file; files: {dict(self.files)}"
                )

    @classmethod
    def from_config(cls, cfg: Mapping) -> DatasetSpec:
        """The spec of a dataset config; the facts it leaves null (``folder.yaml``: types,
        nesting depth, selection metric) are read from its training files."""
        raw = _plain(cfg)
        known = set(cls.__dataclass_fields__) - {"extra"}
        values = {k: v for k, v in raw.items() if k in known}
        extra = {k: v for k, v in raw.items() if k not in known}
        missing = [k for k in ("name", "data_dir", "files") if _unset(values.get(k))]
        if missing:
            where = f"dataset {values['name']}" if "name" not in missing else "dataset config"
            hint = " (the folder holding its files)" if "data_dir" in missing else ""
            raise ConfigError(f"{where}: set {', '.join(f'dataset.{k}' for k in missing)}{hint}")
        values["files"] = dict(values["files"])
        values = fill_from_training_data(values)
        if _unset(values.get("entity_types")):
            raise ConfigError(f"dataset {values['name']}: set dataset.entity_types")
        for key in ("entity_types", "relation_types", "symmetric_relation_types", "train_splits"):
            if key in values:
                values[key] = tuple(values[key] or ())
        return cls(**values, extra=extra)

    def path(self, split: str) -> Path:
        if split not in self.files:
            raise ConfigError(
                f"dataset {self.name} has no split {split!r}; splits: {list(self.files)}"
            )
        return Path(self.data_dir) / self.files[split]

    def read(self, split: str) -> list[Document]:
        """Read and validate one split; a missing file says how to fetch it."""
        path = self.path(split)
        if not path.is_file():
            # Only a registered dataset can be fetched; your own data can only be pointed at.
            fetch = (
                f"fetch the dataset with `python3 scripts/datasets/fetch.py {self.name} "
                f"--mirror DIR` or "
                if self.name in dataset_names() and self.name != FOLDER
                else ""
            )
            raise DatasetFormatError(
                str(path), f"file not found; {fetch}point dataset.data_dir at its folder"
            )
        documents = read_documents(
            path,
            self.entity_types,
            self.relation_types,
            allow_overlap=self.nesting_depth > 1,
        )
        if self.context_window > 0:
            from iter.data.context import add_context

            documents = add_context(documents, self.context_window)
        return documents

    def read_splits(self, splits: Sequence[str]) -> list[Document]:
        documents: list[Document] = []
        for split in splits:
            documents.extend(self.read(split))
        return documents


def _plain(cfg: Mapping) -> dict:
    """A dataset config as a plain dict, interpolations resolved; a mandatory value left
    unset (``???``) stays the string ``???`` rather than raising."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    return dict(cfg)


def _unset(value: object) -> bool:
    return value is None or value == "???" or (not value and not isinstance(value, int))


def compose_config(overrides: Sequence[str] = (), config_name: str = "train"):
    """The composed Hydra config, as ``train.py`` would see it (for scripts and tests)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))


def dataset_names() -> list[str]:
    """The registered datasets: ``configs/dataset/<name>.yaml``, less the shared ``base``."""
    return sorted(p.stem for p in (CONFIG_DIR / "dataset").glob("*.yaml") if p.stem != "base")


def load_dataset_spec(name: str, overrides: Sequence[str] = ()) -> DatasetSpec:
    """The spec of a registered dataset (``configs/dataset/<name>.yaml``)."""
    available = dataset_names()
    if name not in available:
        raise ConfigError(f"unknown dataset {name!r}; available: {', '.join(available)}")
    cfg = compose_config([f"dataset={name}", *overrides])
    return DatasetSpec.from_config(cfg.dataset)
