"""benchmarks/link_threshold.py: RE+ over a grid of link thresholds, and per type tuned on dev."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def run_script(*args: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "benchmarks/link_threshold.py", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_global_and_per_type_thresholds_agree_at_the_default(tiny_checkpoint_and_data):
    path, data = tiny_checkpoint_and_data
    checkpoint = str(path)

    (grid,) = run_script(checkpoint, "--data", str(data))
    assert set(grid["dev"]) == set(grid["test"]) == {"0.2", "0.3", "0.35", "0.4", "0.45", "0.5",
                                                     "0.55", "0.6", "0.7"}  # fmt: skip
    assert grid["test_at_0.5"] == grid["test"]["0.5"]

    (per_type,) = run_script(checkpoint, "--data", str(data), "--per-type")
    assert set(per_type["tuned"]) == {"based_in", "lives_in", "works_for"}
    assert all(t in (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
               for t in per_type["tuned"].values())  # fmt: skip
    # Every type at 0.5 is the single threshold 0.5.
    assert per_type["at_0.5"] == {"dev": grid["dev"]["0.5"], "test": grid["test"]["0.5"]}
    # Coordinate ascent starts from 0.5 and keeps only changes that help on dev.
    assert per_type["dev_tuned"] >= per_type["at_0.5"]["dev"]
