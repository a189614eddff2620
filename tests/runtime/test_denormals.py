"""Training flushes denormal floats to zero on the CPU, in every intra-op thread."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest
import torch

from iter.training import environment

# torch.set_flush_denormal sets the x86 FTZ/DAZ flags; elsewhere it reports False.
x86 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 only")

# Each case runs in a fresh interpreter: the mode is per thread and lasts for the process.
PROBE = """
import json, torch
torch.set_num_threads(2)
from iter.runtime.precision import denormals_flushed, flush_denormals
{setup}
product = torch.full((1 << 20,), 1e-30) * 1e-9
print(json.dumps({"flushed": denormals_flushed(), "nonzero": int(product.count_nonzero()),
                  "smallest": float(torch.tensor(1e-30) * torch.tensor(1e-9))}))
"""


def probe(setup: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.replace("{setup}", setup)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@x86
def test_flushing_before_the_first_parallel_operation_reaches_every_thread():
    report = probe("")  # torch's default: denormal results
    assert report["flushed"] is False and report["nonzero"] == 1 << 20
    assert 0 < report["smallest"] < torch.finfo(torch.float32).tiny

    # No torch operation has run when flush_denormals is called.
    flushed = probe("assert flush_denormals()")
    assert flushed == {"flushed": True, "nonzero": 0, "smallest": 0.0}


@x86
def test_threads_already_running_keep_their_mode():
    # Why training flushes in its set-up, before any parallel work: torch's pool threads
    # copy the flag when they start, and the main thread's later change does not reach them.
    report = probe("denormals_flushed()\nassert flush_denormals()")  # the first starts the pool
    assert report["flushed"] is False  # the worker thread still computes denormals
    assert report["smallest"] == 0.0  # the main thread flushes
    assert report["nonzero"] == (1 << 20) // 2


def test_the_run_environment_records_whether_denormals_are_flushed():
    recorded = environment.run_environment(torch.device("cpu"))
    assert isinstance(recorded["denormals_flushed"], bool)
