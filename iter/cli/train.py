"""``train.py`` / ``iter train``: compose a Hydra config and train (a run, or a sweep with -m).

The paper's flags and Hydra overrides both work:

    iter train --dataset conll04 --transformer <name or path> --seed 1 [--use_bfloat16]
    iter train dataset=conll04 seed=1 trainer.max_epochs=5
    iter train -m dataset=conll04 seed=1,2,3,4,5          # a seeded sweep
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from iter.cli.errors import user_errors
from iter.cli.flags import translate_flags
from iter.config import config_dir
from iter.errors import ConfigError, hydra_error_line


@hydra.main(config_path=str(config_dir()), config_name="train", version_base="1.3")
def _train(cfg: DictConfig) -> float:
    from iter.sweeps import add_sweep_group
    from iter.training.run import train_from_config

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        add_sweep_group(cfg)  # the runs of one sweep form one W&B group
    with user_errors():
        metrics = train_from_config(cfg, Path(hydra_cfg.runtime.output_dir))
    # Returned for Hydra sweepers that optimise the dev score (NaN: skipped, another process
    # is training that run).
    return metrics["dev_score"]


# Hydra's own flags that only print (help, info, completion) or that pick another primary
# config: with these the run's config is not the one to check, so Hydra goes first.
_NOT_A_RUN = ("-h", "--help", "--hydra-help", "-i", "--info", "-sc", "--shell-completion")
_OTHER_CONFIG = ("-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir")


def check_before_launch(args: list[str]) -> None:
    """Compose the config these arguments ask for and check it against the schema, so that
    a wrong key, type or value stops with one line before Hydra starts (or queues) a job.

    In a multirun, the sweep's values are checked per job by the sweep callback; here the
    overrides that are not sweeps are, once.
    """
    if any(arg.split("=")[0] in _NOT_A_RUN + _OTHER_CONFIG for arg in args):
        return
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from iter.data.registry import compose_config
    from iter.training.schema import validate_config

    candidates = [arg for arg in args if not arg.startswith("-") and "=" in arg]
    try:
        parsed = OverridesParser.create().parse_overrides(candidates)
        fixed = [
            o.input_line
            for o in parsed
            if not o.is_sweep_override()
            and not o.get_key_element().lstrip("+~").startswith("hydra")
        ]
        cfg = compose_config(fixed)
    except HydraException as err:
        raise ConfigError(hydra_error_line(err)) from None
    validate_config(cfg)


def main(argv: list[str] | None = None) -> None:
    """Train with ``argv`` (default: the command line); Hydra reads ``sys.argv``."""
    args = sys.argv[1:] if argv is None else argv
    with user_errors():
        overrides = translate_flags(args)
        check_before_launch(overrides)
        sys.argv = [sys.argv[0], *overrides]
    _train()
