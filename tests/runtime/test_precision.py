"""Precision checks: bf16 on a CPU that would only emulate it is named before training."""

from __future__ import annotations

import logging

import pytest
import torch

from iter.runtime import precision
from iter.runtime.precision import cpu_has_bf16_units, resolve_precision

AVX2_CPU = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse sse2 avx avx2 fma bmi2

processor\t: 1
flags\t\t: fpu sse sse2 avx avx2 fma bmi2
"""
AMX_CPU = "processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"
ARM_CPU = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [(AVX2_CPU, False), (AMX_CPU, True), (ARM_CPU, True), ("processor\t: 0\n", None)],
)
def test_cpu_flags_say_whether_bf16_is_native(tmp_path, cpuinfo, expected):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert cpu_has_bf16_units(path) is expected


def test_unreadable_cpuinfo_is_unknown(tmp_path):
    assert cpu_has_bf16_units(tmp_path / "missing") is None


@pytest.mark.parametrize(("native", "warned"), [(False, True), (True, False), (None, False)])
def test_bf16_on_a_cpu_without_bf16_units_is_warned(monkeypatch, caplog, native, warned):
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: native)
    with caplog.at_level(logging.WARNING, logger="iter.runtime.precision"):
        chosen = resolve_precision("bf16", torch.device("cpu"))
    assert chosen.dtype is torch.bfloat16  # still runs: the warning does not refuse
    assert ("without bf16 units" in caplog.text) is warned


def test_fp32_is_never_warned(monkeypatch, caplog):
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: False)
    with caplog.at_level(logging.WARNING, logger="iter.runtime.precision"):
        resolve_precision("fp32", torch.device("cpu"))
    assert caplog.text == ""
