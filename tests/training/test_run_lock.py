"""A run folder has one live trainer: a sweep launched twice skips the run that another
process is training and writes nothing into it; the lock a killed run leaves never blocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iter.training.run_folder import RunFolderLock
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def small_conll04(tmp_path: Path, shared_datasets: Path, size: int) -> Path:
    data = tmp_path / "data" / "conll04"
    data.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        documents = json.loads((shared_datasets / "conll04" / f"{split}.json").read_text())
        (data / f"{split}.json").write_text(json.dumps(documents[:size]))
    return tmp_path / "data"


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_second_launch_skips_the_live_run(tmp_path, shared_datasets):
    env = {
        **os.environ,
        "ITER_DATA_DIR": str(small_conll04(tmp_path, shared_datasets, 160)),
        "ITER_OUTPUT_DIR": str(tmp_path / "outputs"),
        "ITER_CACHE_DIR": str(tmp_path / "cache"),
        "WANDB_MODE": "disabled",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable, "train.py", "-m", "seed=1", "logger=none", "trainer.max_epochs=3",
        "trainer.num_threads=1", "sweep_name=twice",
    ]  # fmt: skip
    run_dir = tmp_path / "outputs" / "sweeps" / "conll04" / "minilm" / "twice" / "seed1"
    first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        # Wait until the first process trains (its lock taken, its config written).
        deadline = time.monotonic() + 600
        while not (run_dir / "config.yaml").is_file():
            assert first.poll() is None, first.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the first launch never started training"
            time.sleep(0.5)
        before = folder_state(run_dir)
        second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=600)  # fmt: skip
        assert first.poll() is None, "the first launch ended before the second one checked"
        after = {k: v for k, v in folder_state(run_dir).items() if k in before}
    finally:
        output, _ = first.communicate(timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"skipped: {run_dir} is being trained by another live process" in second.stdout
    assert "Traceback" not in second.stderr
    # The files the second launch found are untouched by it (the first may have written more
    # meanwhile: only its own writes, to train.log and the checkpoint, may differ).
    untouched = {k for k in before if not k.startswith(("train.log", "checkpoint", "wandb"))}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
    assert first.returncode == 0, output[-3000:]
    log = (run_dir / "train.log").read_text()
    assert log.count("train /") == 1  # one process read the data into this folder
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_trained"] == 3


def test_a_dead_process_lock_file_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.run(
        [sys.executable, "-c",
         "import sys; from iter.training.run_folder import RunFolderLock; "
         f"sys.exit(0 if RunFolderLock({str(run_dir)!r}).acquire() else 1)"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert holder.returncode == 0, holder.stderr
    assert (run_dir / ".lock").exists()  # left behind by a process that is gone
    lock = RunFolderLock(run_dir)
    assert lock.acquire()
    other = RunFolderLock(run_dir)
    assert not other.acquire()  # held by a live owner (this process)
    lock.release()
    assert other.acquire()
    other.release()


def test_the_exact_command_names_the_program_the_user_ran(monkeypatch):
    from iter.training.run import exact_command

    monkeypatch.setattr("sys.argv", ["/venv/bin/iter", "dataset=conll04", "seed=2"])
    assert exact_command() == "iter train dataset=conll04 seed=2"
    monkeypatch.setattr("sys.argv", ["train.py", "--dataset", "conll04"])
    assert exact_command() == "python3 train.py --dataset conll04"
