"""OmegaConf resolvers the configs use; importing this module registers them."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[1]

if not OmegaConf.has_resolver("iter_root"):
    OmegaConf.register_new_resolver("iter_root", lambda: str(REPO_ROOT))
