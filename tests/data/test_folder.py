"""Your own data: a folder of JSON files (configs/dataset/folder.yaml) whose types, nesting
depth and selection metric are read from its training files when the config leaves them
null (iter.data.folder), through the same compose path as ``train.py dataset=folder``."""

from __future__ import annotations

import json
import logging

import pytest

from iter.data.document import Document, Entity
from iter.data.folder import nesting_depth_of, types_in
from iter.data.reader import read_documents
from iter.data.registry import DatasetSpec, compose_config, load_dataset_spec
from iter.errors import ConfigError, DatasetFormatError
from tests.conftest import OWN_SENTENCES, write_dataset_folder


def spec_of(folder, *overrides: str) -> DatasetSpec:
    cfg = compose_config(["dataset=folder", f"dataset.data_dir={folder}", *overrides])
    return DatasetSpec.from_config(cfg.dataset)


def without_relations(documents: list[dict]) -> list[dict]:
    return [{**doc, "relations": []} for doc in documents]


def test_types_are_read_from_the_training_files_sorted(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="iter")
    spec = spec_of(write_dataset_folder(tmp_path))
    assert spec.name == "folder"
    assert spec.entity_types == ("org", "person", "place")
    assert spec.relation_types == ("based_in", "lives_in", "works_for")
    assert (spec.nesting_depth, spec.selection_metric) == (1, "re_plus")
    assert "entity_types [org, person, place]" in caplog.text  # the log states what it read
    assert len(spec.read("test")) == len(OWN_SENTENCES)


def test_evaluation_finds_the_same_types_by_the_config_name(tmp_path):
    # evaluate.py --dataset folder --data_dir DIR goes through load_dataset_spec.
    folder = write_dataset_folder(tmp_path)
    assert load_dataset_spec("folder", [f"dataset.data_dir={folder}"]) == spec_of(folder)


def test_listed_types_are_kept_in_their_order_and_the_rest_is_read(tmp_path):
    spec = spec_of(write_dataset_folder(tmp_path), "dataset.entity_types=[place,person,org]")
    assert spec.entity_types == ("place", "person", "org")
    assert spec.relation_types == ("based_in", "lives_in", "works_for")


def test_types_come_from_the_training_split_alone(tmp_path):
    dev = json.loads(json.dumps(OWN_SENTENCES))
    dev[0]["entities"][2]["type"] = "planet"
    spec = spec_of(write_dataset_folder(tmp_path, dev=dev))
    assert "planet" not in spec.entity_types
    with pytest.raises(DatasetFormatError, match=r"dev\.json, document 0.*unknown entity type"):
        spec.read("dev")


def test_without_relations_the_dataset_is_entities_only_and_selects_on_ner(tmp_path):
    spec = spec_of(write_dataset_folder(tmp_path, without_relations(OWN_SENTENCES)))
    assert spec.relation_types == ()
    assert spec.selection_metric == "ner"


NESTED = {
    "tokens": ["University", "of", "California", "at", "Berkeley"],
    "entities": [
        {"type": "org", "start": 0, "end": 5},
        {"type": "place", "start": 2, "end": 3},
        {"type": "place", "start": 4, "end": 5},
    ],
    "relations": [],
}


def test_nesting_depth_is_the_most_distinct_starts_inside_one_span(tmp_path):
    # The org span [0, 5) holds the starts 0, 2 and 4: its start is the third closest to its
    # end, so step 2 must pair each end with 3 starts.
    spec = spec_of(write_dataset_folder(tmp_path, [NESTED, *OWN_SENTENCES]))
    assert spec.nesting_depth == 3
    assert len(spec.read("train")) == 4  # overlaps are then allowed
    same_start = Document(("a", "b"), (Entity(0, 1, "x"), Entity(0, 2, "x")))
    assert nesting_depth_of([same_start]) == 1  # one start: the closest for both spans
    assert nesting_depth_of([Document(("a",))]) == 1


@pytest.mark.parametrize("name", ["ade", "conll04", "genia", "scierc"])
def test_what_the_data_says_matches_the_registered_configs(name):
    spec = load_dataset_spec(name)
    train = spec.path(spec.train_splits[0])
    if not train.is_file():
        pytest.skip(f"{train} not fetched")
    documents = read_documents(train)
    assert nesting_depth_of(documents) == spec.nesting_depth
    assert types_in(documents) == (
        tuple(sorted(spec.entity_types)),
        tuple(sorted(spec.relation_types)),
    )


def test_a_folder_without_its_files_says_which_are_missing(tmp_path):
    with pytest.raises(ConfigError, match=r"has none of the files train\.json, dev\.json, test"):
        spec_of(tmp_path)
    partial = write_dataset_folder(tmp_path / "partial", dev=None)
    with pytest.raises(ConfigError, match=r"has no dev.json \(it needs train.json, dev.json"):
        spec_of(partial)
    with pytest.raises(ConfigError, match=r"dataset\.data_dir .*nowhere is not a folder"):
        spec_of(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"^dataset folder: set dataset.data_dir \(the folder"):
        DatasetSpec.from_config(compose_config(["dataset=folder"]).dataset)


def test_a_file_not_in_the_format_is_named_with_its_document_and_field(tmp_path):
    broken = [{"tokens": ["a", "b"], "entities": [{"type": "x", "start": 0}], "relations": []}]
    folder = write_dataset_folder(tmp_path, train=broken)
    with pytest.raises(DatasetFormatError, match=r"train.json, document 0, field 'entities\[0\]"):
        spec_of(folder)


def test_training_files_without_entities_are_an_error(tmp_path):
    bare = [{"tokens": ["no", "names", "here"], "entities": [], "relations": []}]
    with pytest.raises(ConfigError, match="its training files hold no entities"):
        spec_of(write_dataset_folder(tmp_path, bare))


def test_a_missing_file_of_ones_own_data_is_not_told_to_be_fetched(tmp_path):
    folder = write_dataset_folder(tmp_path)
    spec = spec_of(folder, "dataset.entity_types=[org,person,place]", "dataset.nesting_depth=1")
    (folder / "test.json").unlink()
    with pytest.raises(DatasetFormatError, match="file not found") as caught:
        spec.read("test")
    assert "fetch" not in str(caught.value) and "point dataset.data_dir" in str(caught.value)
    registered = load_dataset_spec("conll04", [f"dataset.data_dir={tmp_path}"])
    with pytest.raises(DatasetFormatError, match=r"fetch\.py conll04"):
        registered.read("test")
