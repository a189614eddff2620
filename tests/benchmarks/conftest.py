"""What the benchmark scripts' tests share: a tiny checkpoint and a dataset folder for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import tiny_model, write_dataset_folder


@pytest.fixture
def tiny_checkpoint_and_data(minilm_tokenizer, tmp_path) -> tuple[Path, Path]:
    """A saved random tiny model with the toy dataset's types, and that dataset's folder."""
    model = tiny_model(
        minilm_tokenizer,
        entity_types=["org", "person", "place"],
        relation_types=["based_in", "lives_in", "works_for"],
    )
    model.save_pretrained(tmp_path / "checkpoint")
    return tmp_path / "checkpoint", write_dataset_folder(tmp_path / "data")
