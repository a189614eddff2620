"""OmegaConf resolvers the configs use; importing this module registers them."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[1]

if not OmegaConf.has_resolver("iter_root"):
    OmegaConf.register_new_resolver("iter_root", lambda: str(REPO_ROOT))


def run_id(seed: object, fold: object = None) -> str:
    """Name of a run's folder within a sweep: ``seed3``, or ``fold2-seed3`` for CV folds."""
    return f"seed{seed}" if fold is None else f"fold{fold}-seed{seed}"


if not OmegaConf.has_resolver("iter_run_id"):
    OmegaConf.register_new_resolver("iter_run_id", run_id)
