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


def main(argv: list[str] | None = None) -> None:
    """Train with ``argv`` (default: the command line); Hydra reads ``sys.argv``."""
    args = sys.argv[1:] if argv is None else argv
    with user_errors():
        sys.argv = [sys.argv[0], *translate_flags(args)]
    _train()
