"""The text report and the metrics JSON file, on a case with hand-computed numbers."""

from __future__ import annotations

import json

import pytest

from iter.data.document import Document, Entity, Relation
from iter.evaluation import (
    EvaluationResult,
    evaluate,
    format_report,
    read_metrics_json,
    result_to_json,
    write_metrics_json,
)

WORDS = ("a", "b", "c", "d", "e", "f")
LOC = [Entity(i, i + 1, "Loc") for i in range(4)]
PEOP = Entity(5, 6, "Peop")
LIVE_IN = Relation(PEOP, LOC[0], "Live_In")


def result() -> EvaluationResult:
    """NER: Loc tp 3 fp 1 fn 0, Peop tp 0 fp 0 fn 1. RE and RE+: Live_In tp 1."""
    gold = [
        Document(WORDS, (LOC[0], LOC[1], PEOP), (LIVE_IN,)),
        Document(WORDS, (LOC[2],)),
    ]
    pred = [
        Document(WORDS, (LOC[0], LOC[1], LOC[3]), (LIVE_IN,)),
        Document(WORDS, (LOC[2],)),
    ]
    return evaluate(gold, pred)


def block(report: str, label: str) -> dict[str, list[str]]:
    """The rows of one task's table, keyed by their first column."""
    lines = report.splitlines()
    start = lines.index(label) + 1
    rows = {}
    for line in lines[start:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def test_report_has_a_table_per_task_with_hand_computed_rows():
    report = format_report(result(), title="toy run")
    assert report.splitlines()[0] == "toy run"
    assert "2 documents" in report.splitlines()[1]
    ner = block(report, "NER")
    assert ner["type"] == ["P", "R", "F1", "support"]
    assert ner["Loc"] == ["75.00", "100.00", "85.71", "3"]
    assert ner["Peop"] == ["0.00", "0.00", "0.00", "1"]
    assert ner["micro"] == ["75.00", "75.00", "75.00", "4"]
    assert ner["macro"] == ["37.50", "50.00", "42.86"]  # no support on the macro row
    for label in ("RE (boundaries)", "RE+ (strict)"):
        rows = block(report, label)
        assert rows["Live_In"] == ["100.00", "100.00", "100.00", "1"]
        assert rows["macro"] == ["100.00", "100.00", "100.00"]


def test_report_without_title_starts_with_the_document_count():
    assert format_report(result()).splitlines()[0].startswith("2 documents")


def test_report_says_when_a_task_has_no_types():
    doc = Document(WORDS, (PEOP,))
    report = format_report(evaluate([doc], [doc]))
    assert block(report, "RE+ (strict)") == {"(no": ["types", "to", "score)"]}
    assert block(report, "NER")["Peop"] == ["100.00", "100.00", "100.00", "1"]


def test_metrics_json_round_trip(tmp_path):
    scores = result()
    path = tmp_path / "nested" / "metrics.json"  # the folder does not exist yet
    write_metrics_json(path, scores, extra={"seed": 3, "model": tmp_path / "ckpt"})
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temporary left
    data = read_metrics_json(path)
    assert data["seed"] == 3
    assert data["model"] == str(tmp_path / "ckpt")
    assert EvaluationResult.from_dict(data["scores"]) == scores
    assert data["scores"] == json.loads(json.dumps(scores.to_dict()))
    assert data["summary"] == {
        "ner_micro_f1": 75.0, "ner_macro_f1": 42.86,
        "re_micro_f1": 100.0, "re_macro_f1": 100.0,
        "re_plus_micro_f1": 100.0, "re_plus_macro_f1": 100.0,
    }  # fmt: skip
    ner = data["percentages"]["ner"]
    assert ner["per_type"]["Loc"] == {"precision": 75.0, "recall": 100.0, "f1": 85.71, "support": 3}
    assert ner["micro"] == {"precision": 75.0, "recall": 75.0, "f1": 75.0, "support": 4}
    assert ner["macro"] == {"precision": 37.5, "recall": 50.0, "f1": 42.86}


def test_result_to_json_matches_what_is_written(tmp_path):
    path = tmp_path / "m.json"
    write_metrics_json(path, result(), extra={"split": "dev"})
    expected = json.loads(json.dumps(result_to_json(result(), {"split": "dev"})))
    assert read_metrics_json(path) == expected


def test_extra_keys_may_not_overwrite_the_scores(tmp_path):
    with pytest.raises(ValueError, match="summary"):
        write_metrics_json(tmp_path / "m.json", result(), extra={"summary": "mine"})
    assert not (tmp_path / "m.json").exists()


def test_reading_a_file_that_is_not_a_metrics_file_fails(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"tokens": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a metrics file"):
        read_metrics_json(path)
