"""scripts/compare_runs.py on run folders holding predictions of CoNLL04's real test split."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts import compare_runs  # noqa: E402


def run_folder(root: Path, name: str, documents: list[dict]) -> Path:
    """A finished run's folder as far as the script reads it: config.yaml and predictions."""
    folder = root / name
    folder.mkdir()
    (folder / "config.yaml").write_text("dataset:\n  name: conll04\n")
    (folder / "predictions-test.json").write_text(json.dumps(documents))
    return folder


@pytest.fixture
def test_split(shared_datasets) -> list[dict]:
    return json.loads((shared_datasets / "conll04" / "test.json").read_text())


def without_relations(documents: list[dict], every: int) -> list[dict]:
    """The documents with the relations of every ``every``-th one dropped."""
    return [dict(doc, relations=[]) if i % every == 0 else doc for i, doc in enumerate(documents)]


def test_a_group_without_some_relations_scores_lower(
    test_split, shared_datasets, tmp_path, capsys
):
    perfect = [run_folder(tmp_path, f"perfect{seed}", test_split) for seed in (1, 2)]
    worse = [
        run_folder(tmp_path, "worse1", without_relations(test_split, 2)),
        run_folder(tmp_path, "worse2", without_relations(test_split, 3)),
    ]
    output = tmp_path / "differences.json"
    compare_runs.main(
        ["--a", *map(str, perfect), "--b", *map(str, worse), "--samples", "200",
         "--data_dir", str(shared_datasets / "conll04"), "--output", str(output)]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "A: 2 run(s)" in printed and "B - A" in printed
    rows = json.loads(output.read_text())["differences"]
    differences = {(d["task"], d["average"]): d for d in rows}
    assert differences["ner", "micro"]["delta"] == 0  # entities untouched
    re_plus = differences["re_plus", "micro"]
    assert re_plus["a"] == 100
    assert 50 < re_plus["b"] < 100 and re_plus["high"] < 0 and re_plus["p_value"] < 0.01


def test_a_run_without_predictions_fails_with_one_line(test_split, shared_datasets, tmp_path):
    kept = run_folder(tmp_path, "kept", test_split)
    old = tmp_path / "old"
    old.mkdir()
    result = subprocess.run(
        [sys.executable, "scripts/compare_runs.py", "--a", str(kept), "--b", str(old),
         "--data_dir", str(shared_datasets / "conll04")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{old}: no predictions-test.json" in result.stderr
