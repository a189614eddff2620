"""Saving checkpoints atomically, each with its model card (rendered by :mod:`iter.cards`)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from iter.cards import CardValues, render_card
from iter.modeling.hub import CARD_FILE
from iter.modeling.model import ITERForRelationExtraction

INFO_FILE = "training_info.json"


def replace_directory(tmp: Path, target: Path) -> None:
    """Move ``tmp`` to ``target``, never leaving a half-written ``target`` behind."""
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        shutil.rmtree(old)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_checkpoint(
    model: ITERForRelationExtraction,
    directory: Path,
    values: CardValues,
    details: str,
    info: Mapping[str, object],
) -> None:
    """Model, tokenizer, card and training info, written aside and then moved in place.

    ``values`` are what the card states and ``details`` is its section on this run
    (:func:`iter.cards.card_values` and :func:`iter.cards.card_details`).
    """
    tmp = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        model.save_pretrained(tmp)
        (tmp / CARD_FILE).write_text(render_card(values, details), encoding="utf-8")
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    except BaseException:
        # The previous checkpoint stays as it was; the partial copy goes.
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_directory(tmp, directory)


def update_card(
    directory: Path,
    values: CardValues,
    details: str,
    info: Mapping[str, object],
) -> None:
    """Re-render the card and info of a saved checkpoint (e.g. once test scores exist)."""
    write_text_atomic(directory / CARD_FILE, render_card(values, details))
    write_text_atomic(directory / INFO_FILE, json.dumps(info, indent=2, default=str))
