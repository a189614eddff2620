"""Kill a real CoNLL04 run mid-epoch, resume it, and get exactly the uninterrupted result;
and the same seed twice gives identical metrics (CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

ARGS = [
    "train.py",
    "--dataset",
    "conll04",
    "--seed",
    "7",
    "logger=none",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=30",
]


def environment(out: Path, data: Path) -> dict:
    return {
        **os.environ,
        "ITER_OUTPUT_DIR": str(out),
        "ITER_DATA_DIR": str(data),
        "PYTHONUNBUFFERED": "1",
    }


def run_dir_of(out: Path) -> Path:
    (run_dir,) = (out / "runs" / "conll04" / "minilm").iterdir()
    return run_dir


def comparable(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "dev": metrics["dev_score"],
        "test": metrics["scores"],
        "best_epoch": metrics["best_epoch"],
        "losses": [h["train_loss"] for h in metrics["history"]],
        "dev_history": [h["dev_score"] for h in metrics["history"]],
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, shared_datasets):
    out = tmp_path_factory.mktemp("plain")
    result = subprocess.run(
        [sys.executable, *ARGS],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=environment(out, shared_datasets),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return comparable(run_dir_of(out))


def test_same_seed_gives_identical_metrics(uninterrupted, tmp_path, shared_datasets):
    result = subprocess.run(
        [sys.executable, *ARGS],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=environment(tmp_path, shared_datasets),
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert comparable(run_dir_of(tmp_path)) == uninterrupted
    environment_json = json.loads((run_dir_of(tmp_path) / "environment.json").read_text())
    assert environment_json["seed"] == 7 and "git_dirty" in environment_json


def test_killed_mid_epoch_and_resumed_matches_uninterrupted(
    uninterrupted, tmp_path, shared_datasets
):
    env = environment(tmp_path, shared_datasets)
    process = subprocess.Popen(
        [sys.executable, *ARGS],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 600
    state = None
    while time.monotonic() < deadline and process.poll() is None:
        runs = list((tmp_path / "runs" / "conll04" / "minilm").glob("*/training_state.pt"))
        if runs:  # epoch 1 is over; epoch 2's 30 steps take several seconds
            state = runs[0]
            time.sleep(2.0)
            process.send_signal(signal.SIGTERM)
            break
        time.sleep(0.2)
    _, stderr = process.communicate(timeout=300)
    assert state is not None, stderr[-3000:]
    assert process.returncode == 130, stderr[-3000:]
    assert "stopped by signal SIGTERM at epoch 2" in stderr
    assert "Traceback" not in stderr
    run_dir = state.parent
    assert not (run_dir / "metrics.json").exists()

    resumed = subprocess.run(
        [sys.executable, *ARGS, f"resume={run_dir}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # Hydra's job logging writes log records to stdout; progress bars and errors go to stderr.
    assert "resumed at epoch 2" in resumed.stdout + resumed.stderr
    assert comparable(run_dir) == uninterrupted
    # One run, one folder, one log: the resumed job's log lines join the run's train.log
    # rather than a second folder Hydra made for the new job.
    assert [p.name for p in (tmp_path / "runs" / "conll04" / "minilm").iterdir()] == [
        run_dir.name
    ]
    log = (run_dir / "train.log").read_text()
    assert "epoch 1: train loss" in log and "resumed at epoch 2" in log
    assert log.index("epoch 1: train loss") < log.index("resumed at epoch 2")
