"""The inference encoder (plain rows) makes exactly the segments the dataset encoder makes."""

from __future__ import annotations

import pytest

from iter.data.encoding import encode_documents, encode_segments
from iter.data.reader import read_documents
from tests.conftest import CONLL04_ENTITIES, CONLL04_RELATIONS


@pytest.mark.parametrize("max_length", [24, 512])
def test_plain_rows_equal_the_dataset_rows(max_length, minilm_tokenizer, shared_datasets):
    documents = read_documents(shared_datasets / "conll04" / "test.json")[:60]
    args = (documents, minilm_tokenizer, CONLL04_ENTITIES, CONLL04_RELATIONS, max_length)
    dataset, dataset_report = encode_documents(*args)
    rows, rows_report = encode_segments(*args)
    assert rows == dataset.to_list()
    assert rows_report == dataset_report
    if max_length == 24:
        # Short windows: some sentences are split and some relations cross a window.
        assert rows_report.split_documents > 0 and len(rows) > len(documents)
