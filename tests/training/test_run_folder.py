"""A run that fails with a user error while it sets up leaves no run folder behind, and never
takes with it a folder that holds anything of a run (or of the user's)."""

from __future__ import annotations

import pytest

from iter.errors import DatasetFormatError
from iter.training.files import STATE_FILE
from iter.training.run_folder import (
    RunFolderLock,
    remove_untrained_run_folder,
    removed_if_setup_fails,
)


def set_up_folder(folder):
    """What a run folder holds once its run has set up: Hydra's log, the run's description,
    its lock, and W&B's folder before the first file."""
    folder.mkdir()
    for name in ("train.log", "config.yaml", "environment.json", ".lock"):
        (folder / name).write_text("x")
    (folder / "wandb").mkdir()
    return folder


def test_a_folder_with_nothing_of_a_run_is_removed(tmp_path):
    folder = set_up_folder(tmp_path / "seed1-20250101-000000")
    assert remove_untrained_run_folder(folder)
    assert not folder.exists() and tmp_path.exists()
    assert not remove_untrained_run_folder(folder)  # gone already: nothing to do


@pytest.mark.parametrize(
    "kept",
    ["metrics.json", STATE_FILE, "checkpoint-best/", ".checkpoint-best.tmp-1/", "notes.txt",
     "wandb/offline-run-1/", "train.log/"],
)  # fmt: skip
def test_a_folder_with_anything_else_stays(tmp_path, kept):
    folder = set_up_folder(tmp_path / "run")
    path = folder / kept.rstrip("/")
    if kept == "train.log/":
        path.unlink()
    if kept.endswith("/"):
        path.mkdir()
    else:
        path.write_text("{}")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert not remove_untrained_run_folder(folder)
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


def test_only_a_user_error_while_setting_up_removes_the_folder(tmp_path):
    folder = set_up_folder(tmp_path / "run")
    folder.joinpath(".lock").unlink()
    lock = RunFolderLock(folder)  # held, as while the run sets up
    assert lock.acquire()
    with pytest.raises(RuntimeError), removed_if_setup_fails(folder, remove=True):
        raise RuntimeError("a bug: its traceback and the log stay")
    assert folder.is_dir()
    # Not removed for a resumed run, nor by another rank than 0.
    with pytest.raises(DatasetFormatError), removed_if_setup_fails(folder, remove=False):
        raise DatasetFormatError("dev.json", "not valid JSON")
    assert folder.is_dir()
    # The user's error goes on unchanged once the folder is gone.
    error = DatasetFormatError("dev.json", "not valid JSON")
    with pytest.raises(DatasetFormatError) as raised, removed_if_setup_fails(folder, remove=True):
        raise error
    assert raised.value is error
    assert not folder.exists()
    lock.release()  # the lock of a removed folder is released as any other


def test_a_resumed_jobs_log_joins_the_runs_log(tmp_path):
    import logging

    from iter.training.run_folder import continue_log_in

    run_dir, job_dir = tmp_path / "seed1-old", tmp_path / "seed1-new"
    run_dir.mkdir()
    job_dir.mkdir()
    (run_dir / "train.log").write_text("epoch 1: train loss 9.0\n")
    handler = logging.FileHandler(job_dir / "train.log")  # as Hydra opens it for the new job
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        root.warning("resumed at epoch 2")
        continue_log_in(run_dir, job_dir)
        root.warning("epoch 2: train loss 7.0")
    finally:
        root.removeHandler(handler)
        handler.close()
    assert (run_dir / "train.log").read_text().splitlines() == [
        "epoch 1: train loss 9.0",
        "resumed at epoch 2",
        "epoch 2: train loss 7.0",
    ]
    assert not job_dir.exists()  # the new folder held only the log: one run, one folder
    continue_log_in(run_dir, run_dir)  # the same folder: nothing to move
    assert (run_dir / "train.log").is_file()
