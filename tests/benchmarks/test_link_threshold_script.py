"""benchmarks/link_threshold.py: RE+ over a grid of link thresholds, and per type tuned on dev."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import torch

from tests.conftest import REPO

BENCHMARKS = REPO / "benchmarks"
# One sentence's spans (start, end, type index): a person, then an org (types org, person,
# place).
SPANS = torch.tensor([[[0, 1, 1], [3, 4, 0]]])


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "benchmarks/link_threshold.py", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def run_script(*args: str) -> list[dict]:
    done = run(*args)
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


def test_a_grid_of_its_own_and_the_signature_constraint(tiny_checkpoint_and_data):
    path, data = tiny_checkpoint_and_data
    checkpoint = str(path)
    (default,) = run_script(checkpoint, "--data", str(data))
    (low,) = run_script(checkpoint, "--data", str(data), "--grid", "0.05,0.01,0.3")
    # 0.5 is added, the grid sorted; a threshold both grids hold scores the same.
    assert list(low["dev"]) == ["0.01", "0.05", "0.3", "0.5"]
    assert low["signatures"] is False
    assert low["test"]["0.3"] == default["test"]["0.3"]
    assert low["test_at_0.5"] == default["test_at_0.5"]

    (constrained,) = run_script(checkpoint, "--data", str(data), "--grid", "0.5",
                                "--signatures")  # fmt: skip
    assert constrained["signatures"] is True


def test_signatures_restrict_the_loaded_checkpoints_links(tiny_checkpoint_and_data, monkeypatch):
    path, _ = tiny_checkpoint_and_data
    # The script imports its sibling signature_constraint.py, as it does when run.
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    file = BENCHMARKS / "link_threshold.py"
    spec = importlib.util.spec_from_file_location("link_threshold", file)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.load_model(path, None).allowed_links(SPANS) is None
    model = script.load_model(path, [["person", "works_for", "org"]])
    allowed = model.allowed_links(SPANS)  # [1, head, tail, relation]
    works_for = model.config.relation_types.index("works_for")
    # Span 0 is a person, span 1 an org: only person -> org may be works_for, nothing else.
    assert allowed[0, 0, 1, works_for]
    assert int(allowed.sum()) == 1


def test_a_grid_outside_zero_to_one_stops_with_one_line(tiny_checkpoint_and_data):
    path, data = tiny_checkpoint_and_data
    cases = (
        ("0,0.5", "thresholds must lie in (0, 1); got [0.0]"),
        ("0.1,abc", "not a comma-separated list of numbers: '0.1,abc'"),
    )
    for grid, says in cases:
        done = run(str(path), "--data", str(data), "--grid", grid)
        assert done.returncode == 2
        assert says in done.stderr
        assert "Traceback" not in done.stderr
