"""Your own data: what a dataset's training files say about it, for the facts its config
leaves null.

``configs/dataset/folder.yaml`` describes a folder of files in the common JSON format and
leaves the entity and relation types, the nesting depth and the selection metric null; the
registry fills them here, from the training splits only, so nothing about the dev or test
data shapes the model (docs/own-data.md).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from pathlib import Path

from iter.data.document import Document
from iter.data.reader import read_documents
from iter.errors import ConfigError

logger = logging.getLogger(__name__)

# The facts that a null in the dataset config asks to be read from the training files.
READ_FROM_DATA = ("entity_types", "relation_types", "nesting_depth")


def types_in(documents: Sequence[Document]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The entity and relation types that occur, each sorted: the same order on every run
    and machine, whatever order the files list their annotations in."""
    entity_types = sorted({e.type for doc in documents for e in doc.entities})
    relation_types = sorted({r.type for doc in documents for r in doc.relations})
    return tuple(entity_types), tuple(relation_types)


def nesting_depth_of(documents: Sequence[Document]) -> int:
    """The nesting depth the data needs: the most distinct entity starts inside one span.

    Step 2 pairs every end with its ``nesting_depth`` closest starts; a span whose own start
    is the k-th closest start to its end needs k (1 for flat data).
    """
    depth = 1
    for doc in documents:
        starts = sorted({e.start for e in doc.entities})
        for e in doc.entities:
            depth = max(depth, bisect_left(starts, e.end) - bisect_left(starts, e.start))
    return depth


def check_files(name: str, data_dir: Path, files: Mapping[str, str], splits: Sequence[str]) -> None:
    """Every file the splits need is in ``data_dir``; one error lists all that are not."""
    if not data_dir.is_dir():
        raise ConfigError(f"dataset {name}: dataset.data_dir {data_dir} is not a folder")
    for split in splits:
        if split not in files:
            raise ConfigError(f"dataset {name}: split {split!r} has no file; files: {dict(files)}")
    needed = [files[split] for split in dict.fromkeys(splits)]  # in order, each once
    missing = [file for file in needed if not (data_dir / file).is_file()]
    if missing:
        what = (
            f"none of the files {', '.join(needed)}"
            if missing == needed
            else f"no {', '.join(missing)} (it needs {', '.join(needed)})"
        )
        raise ConfigError(f"dataset {name}: {data_dir} has {what}; dataset.files names them")


def fill_from_training_data(values: dict) -> dict:
    """The dataset config ``values`` with its null facts read from the training splits:
    types (sorted), nesting depth; then the selection metric (RE+ with relations, else NER).

    ``values`` has its ``name``, ``data_dir`` and ``files`` already checked to be set.
    """
    name, filled, values = values["name"], {}, dict(values)
    if any(values.get(key, "") is None for key in READ_FROM_DATA):
        documents = _training_documents(values)
        entity_types, relation_types = types_in(documents)
        found = {
            "entity_types": entity_types,
            "relation_types": relation_types,
            "nesting_depth": nesting_depth_of(documents),
        }
        filled = {k: v for k, v in found.items() if values.get(k, "") is None}
        if "entity_types" in filled and not entity_types:
            raise ConfigError(
                f"dataset {name}: its training files hold no entities; "
                f"ITER needs annotated entities to learn from"
            )
        values = {**values, **filled}
    if values.get("selection_metric", "") is None:
        # Without relations only NER can be scored; with them, RE+ as for the paper's data.
        values["selection_metric"] = filled["selection_metric"] = (
            "re_plus" if values.get("relation_types") else "ner"
        )
    if filled:
        stated = "; ".join(f"{key} {_show(value)}" for key, value in filled.items())
        logger.info("dataset %s, from its training files: %s", name, stated)
    return values


def _training_documents(values: Mapping) -> list[Document]:
    """The training splits as documents, read without type checks (the types are what is
    sought) and with overlaps allowed (so is the nesting depth)."""
    name, data_dir, files = values["name"], Path(values["data_dir"]), values["files"]
    train_splits = tuple(values.get("train_splits") or ("train",))
    # Training needs every split; a folder that lacks some says so at once, before any read.
    used = (*train_splits, values.get("dev_split", "dev"), values.get("test_split", "test"))
    check_files(name, data_dir, files, used)
    documents: list[Document] = []
    for split in train_splits:
        documents.extend(read_documents(data_dir / files[split], allow_overlap=True))
    return documents


def _show(value: object) -> str:
    return f"[{', '.join(value)}]" if isinstance(value, tuple) else str(value)
