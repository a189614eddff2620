"""Run-folder bookkeeping: what a folder already holds (a finished run, an interrupted one,
one of another configuration), where to resume from, and the lock of the live trainer."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from iter.errors import ConfigError, IterError
from iter.training.files import METRICS_FILE, STATE_FILE
from iter.training.schema import with_schema_defaults

logger = logging.getLogger(__name__)

# Keys that may differ between two runs of the same experiment.
_RUN_LOCAL_KEYS = ("command", "resume", "paths")
# What a run folder holds before its run has trained: the job's log, the files describing the
# run and the live trainer's lock (and W&B's folder, while it is still empty).
_BEFORE_TRAINING = ("train.log", "config.yaml", "environment.json", ".lock")


def find_resume_state(resume: object, run_dir: Path) -> tuple[Path, Path] | None:
    """(state file, run folder) to resume from, or None for a fresh run."""
    if resume in (False, None, "false", ""):
        return None
    folder = run_dir if resume is True or resume == "true" else Path(str(resume))
    state = folder / STATE_FILE
    if not state.is_file():
        raise ConfigError(f"resume: no {STATE_FILE} in {folder}; nothing to resume")
    return state, folder


def continue_log_in(run_dir: Path, job_dir: Path) -> None:
    """Resuming a run from another folder: Hydra opened this job's ``train.log`` in its new
    folder; the run's log is the resumed folder's. Move the file handler there (appending),
    carry over what was already written, and drop the new folder if nothing else is in it,
    so that a run keeps one folder and one log however often it is resumed."""
    job_dir, run_dir = job_dir.resolve(), run_dir.resolve()
    if job_dir == run_dir:
        return
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            path = Path(handler.baseFilename)
            if path.parent != job_dir:
                continue
            handler.acquire()
            try:
                handler.close()  # flushes; the next record reopens at the new path
                written = path.read_text(encoding="utf-8") if path.is_file() else ""
                target = run_dir / path.name
                with target.open("a", encoding="utf-8") as log:
                    log.write(written)
                path.unlink(missing_ok=True)
                handler.baseFilename = str(target)
                handler.mode = "a"
            finally:
                handler.release()
    if job_dir.is_dir() and not any(job_dir.iterdir()):
        job_dir.rmdir()


def remove_untrained_run_folder(run_dir: Path) -> bool:
    """Remove ``run_dir`` if it holds nothing but what a run writes before it trains (its
    log, config.yaml, environment.json, its lock, an empty wandb/); True if it did. A folder
    with anything else in it (metrics.json, a training state, a checkpoint, a file of the
    user's) is left as it is."""
    if not run_dir.is_dir():
        return False
    for path in run_dir.iterdir():
        empty_wandb = path.name == "wandb" and path.is_dir() and not any(path.iterdir())
        if not empty_wandb and not (path.name in _BEFORE_TRAINING and path.is_file()):
            return False
    # Logged before the folder goes: a log file opened only now must not find it gone.
    logger.debug("%s: the run stopped before it trained; its folder is removed", run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    return True


@contextmanager
def removed_if_setup_fails(run_dir: Path, remove: bool) -> Iterator[None]:
    """Around a run's set-up (data, encoder, model, logger): on a user error, and if
    ``remove``, drop ``run_dir`` when it holds nothing of a run
    (:func:`remove_untrained_run_folder`). The error itself goes on as it was."""
    try:
        yield
    except IterError:
        if remove:
            remove_untrained_run_folder(run_dir)
        raise


def check_same_configuration(run_dir: Path, cfg: DictConfig) -> bool:
    """Whether ``run_dir`` holds a run (finished or interrupted); an error if it holds one
    of another configuration (``command``, ``resume`` and ``paths`` may differ)."""
    if not (run_dir / METRICS_FILE).is_file() and not (run_dir / STATE_FILE).is_file():
        return False
    config_path = run_dir / "config.yaml"
    # Options added since the stored run was trained count at their defaults (on both sides,
    # so that a config that states none of them compares as it is).
    current = with_schema_defaults(OmegaConf.to_container(cfg, resolve=True))
    stored = OmegaConf.to_container(OmegaConf.load(config_path)) if config_path.is_file() else {}
    stored = with_schema_defaults(stored)
    differing = sorted(
        key
        for key in set(current) | set(stored)
        if key not in _RUN_LOCAL_KEYS and current.get(key) != stored.get(key)
    )
    if differing:
        raise ConfigError(
            f"{run_dir} holds a run with a different configuration (in: "
            f"{', '.join(differing)}); choose another sweep_name=... or move that folder"
        )
    return True


def earlier_run(run_dir: Path, cfg: DictConfig) -> tuple[dict | None, bool]:
    """What a re-run sweep finds in ``run_dir``: (metrics if finished, whether to resume).

    Only a run of the same configuration counts; a different one in the same folder is an
    error rather than something to overwrite or to mix into a summary.
    """
    metrics_path = run_dir / METRICS_FILE
    if not check_same_configuration(run_dir, cfg):
        return None, False
    if metrics_path.is_file():
        logger.info("%s: already finished, skipped (delete metrics.json to train again)", run_dir)
        print(f"skipped, already finished: {run_dir}")
        return json.loads(metrics_path.read_text()), False
    logger.info("%s: interrupted earlier; continuing from its saved state", run_dir)
    return None, True


class RunFolderLock:
    """An exclusive lock on a run folder, held while a process trains into it.

    An advisory file lock (``filelock``; ``flock`` on Unix): the operating system releases it
    when its process dies, so the lock file a killed run leaves behind never blocks a resume.
    Taking it creates nothing but the folder and its ``.lock`` file; a process that finds
    it held has written nothing into the folder.
    """

    def __init__(self, run_dir: Path) -> None:
        from filelock import FileLock

        self.path = Path(run_dir) / ".lock"
        self._lock = FileLock(str(self.path))

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live process holds it."""
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()
