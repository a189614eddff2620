"""Device and numeric precision: what runs where, checked before any work starts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from iter.errors import ConfigError

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")
# CPU flags of native bf16 arithmetic: x86's AVX512-BF16 and AMX, Arm's BF16 extension.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


@dataclass(frozen=True)
class Precision:
    name: str
    device: torch.device

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self) -> Callable[[], contextlib.AbstractContextManager]:
        """A factory of autocast contexts (a no-op for fp32)."""
        dtype = self.dtype
        if dtype is None:
            return contextlib.nullcontext
        return lambda: torch.autocast(device_type=self.device.type, dtype=dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """fp16 needs loss scaling; its scaler also skips steps with overflowed gradients."""
        if self.name == "fp16":
            return torch.amp.GradScaler(self.device.type)
        return None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"trainer.device: unknown device {name!r} (auto, cpu, cuda, cuda:N)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name}, but CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"trainer.device: {name!r} is not supported (auto, cpu, cuda, cuda:N)")
    return device


def resolve_precision(name: str, device: torch.device) -> Precision:
    if name not in PRECISIONS:
        raise ConfigError(f"trainer.precision: {name!r} is not one of {', '.join(PRECISIONS)}")
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("trainer.precision=fp16 needs a CUDA device; on CPU use fp32 or bf16")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"trainer.precision=bf16: {torch.cuda.get_device_name(device)} lacks bf16"
        )
    if name == "bf16" and device.type == "cpu" and cpu_has_bf16_units() is False:
        # Autocast still runs, but without the units the CPU converts every bf16 operand to
        # fp32 and back: on an AVX2 CPU, ITER's training step on MiniLM took 7.6x as long as
        # in fp32 (benchmarks/README.md, "bf16 on a CPU without bf16 units").
        logger.warning(
            "precision bf16 on a CPU without bf16 units (no %s in /proc/cpuinfo): bf16 is "
            "emulated here and runs many times slower than fp32; use fp32 on this machine",
            " / ".join(sorted(BF16_CPU_FLAGS)),
        )
    return Precision(name, device)


def cpu_has_bf16_units(cpuinfo: str | Path = "/proc/cpuinfo") -> bool | None:
    """Whether the CPU computes in bf16 natively (its flags name AVX512-BF16, AMX or Arm's
    BF16); None where ``cpuinfo`` cannot be read or lists no flags (not Linux)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, Arm
            flags.update(value.split())
    if not flags:
        return None
    return bool(flags & BF16_CPU_FLAGS)


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def denormals_flushed() -> bool:
    """Whether CPU arithmetic flushes denormal floats to zero now, in every intra-op thread."""
    # Under flush-to-zero a product that would be denormal comes out as 0. The tensor is
    # large enough that torch splits the product over all its threads.
    products = torch.full((1 << 20,), 1e-30) * 1e-9
    return not bool(products.any())


def flush_denormals() -> bool:
    """Make CPU arithmetic treat denormal floats (below 1.2e-38 in fp32) as zero, for the
    rest of the process, like ``torch.set_num_threads``; returns whether the CPU can.

    Why training wants it: as a model fits its training data its gradients shrink, and the
    backward pass meets more and more denormal intermediate values, which an x86 CPU
    computes on in microcode at many times the cost of a normal float. On this project's
    2-core CPU, MiniLM's CoNLL04 epochs grew from about 160 to 330 seconds over a 30-epoch
    run, nearly all of it in the backward pass (`benchmarks/README.md`, "Denormal floats").
    Flushing them changes nothing an update can see: Adam divides a gradient by its own
    scale plus 1e-8, so a gradient of 1e-38 moves a weight by about 1e-30.

    torch sets the flag of the calling thread; the intra-op threads that start later copy
    it, those already running keep their own. So call it before the first parallel
    operation (training does, in its set-up). GPU arithmetic is not affected.
    """
    return bool(torch.set_flush_denormal(True))
