"""benchmarks/overlapping_spans.py: a checkpoint's scores as trained and without overlapping
spans, on dev and test."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_reports_both_decodings_and_the_overlaps_left(tiny_checkpoint_and_data):
    checkpoint, data = tiny_checkpoint_and_data
    done = subprocess.run(
        [sys.executable, "benchmarks/overlapping_spans.py", str(checkpoint), "--data", str(data)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    for split in ("dev", "test"):
        for key in (split, f"{split}_without_overlaps"):
            assert set(row[key]) == {"ner", "re", "re_plus", "overlapping_pairs"}
            assert all(0 <= row[key][task] <= 100 for task in ("ner", "re", "re_plus"))
        # The untrained model predicts overlapping spans; the option leaves none.
        assert row[split]["overlapping_pairs"] > 0
        assert row[f"{split}_without_overlaps"]["overlapping_pairs"] == 0


def test_signatures_add_a_third_decoding_that_is_constrained_and_without_overlaps(
    tiny_checkpoint_and_data,
):
    checkpoint, data = tiny_checkpoint_and_data
    done = subprocess.run(
        [sys.executable, "benchmarks/overlapping_spans.py", str(checkpoint), "--data", str(data),
         "--signatures"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    for split in ("dev", "test"):
        both = row[f"{split}_both"]
        assert both["overlapping_pairs"] == 0
        # Entities are decoded as without overlaps; only links may change.
        assert both["ner"] == row[f"{split}_without_overlaps"]["ner"]
        # The toy data has one (head, tail) type pair per relation type, so under the
        # constraint a link with the right relation type has the right entity types: RE = RE+.
        assert both["re"] == both["re_plus"]
