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
    """Rewrite the paper's flags into Hydra overrides; everything else passes through.

    ``--transformer X`` also names the model after its encoder (see :func:`model_overrides`)."""
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
    given = [i for i, o in enumerate(out) if o.startswith("model.transformer=")]
    if given and not any(o.startswith(("model=", "model.name=")) for o in out):
        # Beside the transformer's override: Hydra's positional overrides must not be split
        # by its options (`--transformer X --cfg job`).
        last = given[-1]
        out[last + 1 : last + 1] = model_overrides(out[last].partition("=")[2])
    return out


def model_overrides(transformer: str) -> list[str]:
    """What ``--transformer X`` adds when no model config or name is given, so that the run
    folder, W&B and the card name the encoder trained rather than the default config's:
    the model config whose encoder is X (its name, and any settings it makes), else the
    shared ``base`` config (ITER as published, none of MiniLM's measured departures) and a
    name made from X (``bert-base-uncased``; a folder's name for a local path)."""
    from omegaconf import OmegaConf

    from iter.config import MINILM_ALIASES, config_dir

    if transformer.lower() in MINILM_ALIASES:
        return ["model=minilm"]
    for path in sorted((config_dir() / "model").glob("*.yaml")):
        known = OmegaConf.load(path).get("transformer")
        if path.stem != "base" and transformer.lower() in {path.stem.lower(), str(known).lower()}:
            return [f"model={path.stem}"]
    return ["model=base", f"model.name={model_name_for(transformer)}"]


def model_name_for(transformer: str) -> str:
    """A folder-safe name for an encoder given by hub id or path."""
    parts = [p for p in re.split(r"[/\\]+", transformer) if p not in ("", ".", "..")]
    # Packaged and downloaded models often sit in a folder called just "model".
    if len(parts) > 1 and parts[-1].lower() in ("model", "models", "encoder"):
        parts = parts[:-1]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", parts[-1] if parts else transformer).strip("-.")
    if not name:
        raise ConfigError(f"--transformer {transformer!r}: no model name can be made from it")
    return name
