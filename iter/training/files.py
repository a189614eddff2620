"""Names of the files a run folder holds. Kept free of imports so that light readers of run
folders (scripts/compare_runs.py, sweep summaries, plots) can share them with the trainer
without loading torch."""

from __future__ import annotations

METRICS_FILE = "metrics.json"  # a finished run's dev and test scores, per epoch too
STATE_FILE = "training_state.pt"  # an interrupted run's state; removed when the run finishes
PREDICTIONS_FILE = "predictions-{role}.json"  # the selected checkpoint's predictions


def predictions_file(role: str) -> str:
    """``predictions-dev.json`` or ``predictions-test.json``."""
    if role not in ("dev", "test"):
        raise ValueError(f"predictions are kept for dev and test, not {role!r}")
    return PREDICTIONS_FILE.format(role=role)
