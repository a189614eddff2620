"""What a run records about where it ran: versions, git state, hardware."""

from __future__ import annotations

import functools
import platform
import subprocess
import sys

import torch
import transformers

from iter.config import REPO_ROOT
from iter.runtime.precision import denormals_flushed


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


@functools.cache
def code_version() -> tuple[str | None, bool | None]:
    """(git commit, dirty) of the code this process runs, read once: the modules are
    imported once, so jobs that a multirun starts later in the same process run this code
    even if the checkout has moved on since."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return _git("rev-parse", "HEAD"), None if status is None else bool(status)


# Read when the training code is first imported, i.e. when it is loaded.
code_version()


def run_environment(device: torch.device) -> dict:
    from iter.version import __version__

    commit, dirty = code_version()
    return {
        "iter": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "transformers": transformers.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(),
        "denormals_flushed": denormals_flushed(),
        "git_commit": commit,
        "git_dirty": dirty,
    }
