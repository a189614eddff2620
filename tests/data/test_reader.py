"""The JSON reader: valid files load; each kind of bad input names file, document and field."""

from __future__ import annotations

import json
import logging

import pytest

from iter.data.document import Entity, Relation
from iter.data.reader import read_documents, write_documents
from iter.errors import DatasetFormatError

GOOD = {
    "tokens": ["John", "works", "for", "Acme", "."],
    "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Org", "start": 3, "end": 4}],
    "relations": [{"type": "Work_For", "head": 0, "tail": 1}],
}


def write(tmp_path, content, name="data.json"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_reads_documents_and_round_trips(tmp_path):
    (doc,) = read_documents(write(tmp_path, [GOOD]), ["Peop", "Org"], ["Work_For"])
    assert doc.tokens == ("John", "works", "for", "Acme", ".")
    assert doc.entities == (Entity(0, 1, "Peop"), Entity(3, 4, "Org"))
    assert doc.relations == (Relation(Entity(0, 1, "Peop"), Entity(3, 4, "Org"), "Work_For"),)
    out = tmp_path / "out.json"
    write_documents([doc], out)
    assert read_documents(out) == [doc]


def with_changes(**changes):
    doc = json.loads(json.dumps(GOOD))
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("content", "document", "field", "message"),
    [
        ('[{"tokens": ["a"], ', None, None, "not valid JSON (line 1"),
        ({"tokens": []}, None, None, "expected a JSON list"),
        (["not an object"], 0, None, "expected an object"),
        ([{"tokens": ["a"], "entities": []}], 0, "relations", "missing"),
        ([with_changes(tokens="John works")], 0, "tokens", "list of strings"),
        ([with_changes(tokens=[], entities=[], relations=[])], 0, "tokens", "empty document"),
        ([with_changes(tokens=["a", " "], entities=[], relations=[])], 0,
         "tokens[1]", "whitespace"),
        ([with_changes(entities=[{"type": "Peop", "start": 0}])], 0, "entities[0].end", "missing"),
        ([with_changes(entities=[{"type": "Peop", "start": "0", "end": 1}])], 0,
         "entities[0].start", "expected an integer"),
        ([with_changes(entities=[{"type": "Peop", "start": -1, "end": 1}], relations=[])], 0,
         "entities[0]", "out of range"),
        ([with_changes(entities=[{"type": "Peop", "start": 3, "end": 9}], relations=[])], 0,
         "entities[0]", "out of range for 5 tokens"),
        ([with_changes(entities=[{"type": "Peop", "start": 2, "end": 2}], relations=[])], 0,
         "entities[0]", "end (2) must be greater than start (2)"),
        ([with_changes(entities=[{"type": "Alien", "start": 0, "end": 1}], relations=[])], 0,
         "entities[0].type", "unknown entity type 'Alien'"),
        ([GOOD, with_changes(relations=[{"type": "Work_For", "head": 0, "tail": 5}])], 1,
         "relations[0].tail", "points at entity 5, but the document has 2 entities"),
        ([with_changes(relations=[{"type": "Work_For", "head": 1, "tail": 1}])], 0,
         "relations[0]", "self-relation"),
        ([with_changes(relations=[{"type": "Kills", "head": 0, "tail": 1}])], 0,
         "relations[0].type", "unknown relation type 'Kills'"),
        ([with_changes(entities=[{"type": "Peop", "start": 0, "end": 2},
                                 {"type": "Org", "start": 1, "end": 3}], relations=[])], 0,
         "entities[1]", "overlaps entities[0], but this dataset is flat"),
    ],
)
def test_bad_input_names_file_document_and_field(tmp_path, content, document, field, message):
    path = write(tmp_path, content)
    with pytest.raises(DatasetFormatError) as info:
        read_documents(path, ["Peop", "Org"], ["Work_For"], allow_overlap=False)
    err = info.value
    assert err.path == str(path)
    assert err.document == document
    assert err.field == field
    assert message in str(err)
    assert str(path) in str(err)


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = write(tmp_path, b'[{"tokens": ["caf\xe9"],\n "entities": [], "relations": []}]')
    with pytest.raises(DatasetFormatError, match=r"not valid UTF-8 \(byte 17, line 1\)"):
        read_documents(path)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetFormatError, match="file not found"):
        read_documents(tmp_path / "nope.json")


def test_exact_duplicates_are_merged_with_a_warning(tmp_path, caplog):
    doc = with_changes(
        entities=GOOD["entities"] + [{"type": "Org", "start": 3, "end": 4}],
        relations=[{"type": "Work_For", "head": 0, "tail": 1},
                   {"type": "Work_For", "head": 0, "tail": 2}],
    )
    with caplog.at_level(logging.WARNING):
        (read,) = read_documents(write(tmp_path, [doc]))
    assert len(read.entities) == 2 and len(read.relations) == 1
    assert "merged 2 exact duplicate" in caplog.text
    assert "document 0 entities[2] = entities[1]" in caplog.text


def test_overlap_allowed_for_nested_datasets(tmp_path):
    doc = with_changes(entities=[{"type": "Peop", "start": 0, "end": 2},
                                 {"type": "Org", "start": 1, "end": 3}], relations=[])
    (read,) = read_documents(write(tmp_path, [doc]), allow_overlap=True)
    assert len(read.entities) == 2
