"""Experiment loggers: Weights & Biases (offline by default) or none."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from iter.errors import ConfigError


class NullLogger:
    """Logs nothing: the logger of runs without W&B and of every rank but 0."""

    def log(self, values: Mapping[str, float], step: int | None = None) -> None:
        pass

    def summary(self, values: Mapping[str, object]) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger(NullLogger):
    """A W&B run; offline mode writes a folder that ``wandb sync`` can upload later."""

    def __init__(
        self,
        directory: Path,
        project: str,
        name: str,
        config: Mapping,
        mode: str = "offline",
        entity: str | None = None,
        group: str | None = None,
        tags: list[str] | None = None,
    ) -> None:
        import wandb

        directory.mkdir(parents=True, exist_ok=True)
        # WANDB_MODE in the environment wins, as W&B users expect.
        mode = os.environ.get("WANDB_MODE", mode)
        self._run = wandb.init(
            project=project,
            entity=entity,
            name=name,
            group=group,
            tags=tags or None,
            config=dict(config),
            dir=str(directory),
            mode=mode,
            reinit="finish_previous",
            settings=wandb.Settings(silent=True, console="off"),
        )

    def log(self, values: Mapping[str, float], step: int | None = None) -> None:
        self._run.log(dict(values), step=step)

    def summary(self, values: Mapping[str, object]) -> None:
        for key, value in values.items():
            self._run.summary[key] = value

    def finish(self) -> None:
        self._run.finish()


def build_logger(cfg: Mapping, run_dir: Path, run_name: str, config: Mapping) -> NullLogger:
    name = cfg.get("name", "none")
    if name == "none":
        return NullLogger()
    if name == "wandb":
        return WandbLogger(
            directory=run_dir,
            project=cfg.get("project", "iter"),
            name=run_name,
            config=config,
            mode=cfg.get("mode", "offline"),
            entity=cfg.get("entity"),
            group=cfg.get("group"),
            tags=list(cfg.get("tags") or []),
        )
    raise ConfigError(f"logger.name: unknown logger {name!r} (wandb, none)")
