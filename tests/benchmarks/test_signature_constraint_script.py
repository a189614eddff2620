"""benchmarks/signature_constraint.py: a checkpoint's scores as trained and under the
training data's type triples, on dev and test."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_reports_both_decodings_with_the_training_triples(tiny_checkpoint_and_data):
    checkpoint, data = tiny_checkpoint_and_data
    done = subprocess.run(
        [sys.executable, "benchmarks/signature_constraint.py", str(checkpoint),
         "--data", str(data)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["signatures"] == [["org", "based_in", "place"], ["person", "lives_in", "place"],
                                 ["person", "works_for", "org"]]  # fmt: skip
    for split in ("dev", "test", "dev_constrained", "test_constrained"):
        assert set(row[split]) == {"ner", "re", "re_plus"}
        assert all(0 <= value <= 100 for value in row[split].values())
    # Entities are decoded before the links: the constraint never changes NER.
    assert row["dev"]["ner"] == row["dev_constrained"]["ner"]
