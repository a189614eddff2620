"""The paper's flags (``--dataset conll04 --transformer X --seed 1``) as Hydra overrides."""

from __future__ import annotations

import re
from collections.abc import Sequence

from iter.errors import ConfigError

# flag -> Hydra key; each takes one value.
VALUE_FLAGS = {
    "--dataset": "dataset",
    "--transformer": "model.transformer",
    "--seed": "seed",
    "--epochs": "trainer.max_epochs",
    "--batch_size": "trainer.batch_size",
    "--device": "trainer.device",
    "--precision": "trainer.precision",
}
SWITCH_FLAGS = {
    "--use_bfloat16": "trainer.precision=bf16",
    "--use_float16": "trainer.precision=fp16",
}


def _is_flag_or_override(arg: str) -> bool:
    # `--seed trainer.max_epochs=3` forgot the seed; it must not become seed=trainer....
    return arg.startswith("--") or re.match(r"^[+~]{0,2}[\w.]+=", arg) is not None


def translate_flags(argv: Sequence[str]) -> list[str]:
    """Rewrite the paper's flags into Hydra overrides; everything else passes through."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if name in VALUE_FLAGS:
            if eq:
                value = inline
            elif i + 1 < len(argv) and not _is_flag_or_override(argv[i + 1]):
                i += 1
                value = argv[i]
            else:
                raise ConfigError(f"{name} needs a value")
            out.append(f"{VALUE_FLAGS[name]}={value}")
        elif arg in SWITCH_FLAGS:
            out.append(SWITCH_FLAGS[arg])
        else:
            out.append(arg)
        i += 1
    return out
