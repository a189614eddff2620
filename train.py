"""Train ITER. Both the paper's flags and Hydra overrides work:

python3 train.py --dataset conll04 --transformer <name or path> --seed 1 [--use_bfloat16]
python3 train.py dataset=conll04 seed=1 trainer.max_epochs=5
python3 train.py -m dataset=conll04 seed=1,2,3,4,5          # a seeded sweep
"""

import sys

from iter.cli.errors import user_errors
from iter.cli.flags import translate_flags

with user_errors():
    sys.argv = [sys.argv[0], *translate_flags(sys.argv[1:])]

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import iter.config  # noqa: F401  (registers the config resolvers)


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from pathlib import Path

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


if __name__ == "__main__":
    main()
