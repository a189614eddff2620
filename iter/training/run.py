"""One training run from a composed config: data, model, loop, test scores, run folder.

The run folder holds ``config.yaml`` (resolved), ``environment.json`` (versions, git state,
hardware), ``metrics.json`` (per-epoch history, dev and test scores), ``train.log``,
``checkpoint-best/`` (model, tokenizer, model card) and, with W&B, ``wandb/``.
"""

from __future__ import annotations

import json
import logging
import random
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from iter.data.encoding import encode_documents
from iter.data.registry import DatasetSpec
from iter.errors import ConfigError
from iter.evaluation.metrics import EvaluationResult
from iter.evaluation.report import format_report, write_metrics_json
from iter.modeling.encoder import public_encoder_name
from iter.modeling.model import ITER, ITERForRelationExtraction
from iter.runtime.distributed import (
    DistributedContext,
    device_for,
    init_distributed,
    shutdown,
)
from iter.runtime.precision import device_description, resolve_device, resolve_precision
from iter.tasks import TASK_LABELS, TASKS
from iter.training.checkpoint import save_checkpoint, update_card
from iter.training.environment import run_environment
from iter.training.loggers import NullLogger, build_logger
from iter.training.trainer import STATE_FILE, Trainer, TrainerSettings

logger = logging.getLogger(__name__)

BEST_CHECKPOINT = "checkpoint-best"


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def selection_score(spec: DatasetSpec):
    """The dev score that selects checkpoints: the dataset's main task and average."""

    def score(result: EvaluationResult) -> float:
        return result.main_f1(spec.selection_metric, spec.metric_average)

    return score


def build_model(cfg: DictConfig, spec: DatasetSpec) -> ITERForRelationExtraction:
    cls = ITERForRelationExtraction if spec.relation_types else ITER
    return cls.from_encoder(
        cfg.model.transformer,
        entity_types=spec.entity_types,
        relation_types=spec.relation_types,
        symmetric_relation_types=spec.symmetric_relation_types,
        nesting_depth=spec.nesting_depth,
        d_ff=cfg.model.d_ff,
        dropout=cfg.model.dropout,
        activation=cfg.model.activation,
        head_input_dropout=cfg.model.head_input_dropout,
        span_objective=cfg.model.span_objective,
        link_pairs=cfg.model.link_pairs,
        loss_reduction=cfg.model.loss_reduction,
        span_representation=cfg.model.get("span_representation"),
        link_type_embedding=cfg.model.get("link_type_embedding", False),
        link_context=cfg.model.get("link_context", "none"),
        link_threshold=cfg.model.link_threshold,
        max_sequence_length=cfg.model.max_length,
        dataset=spec.name,
    )


def effective_max_length(model: ITERForRelationExtraction, requested: int) -> int:
    """The configured length, capped by what the encoder's positions allow."""
    limit = getattr(model.encoder.config, "max_position_embeddings", None)
    if limit and requested > limit:
        logger.warning(
            "model.max_length=%d exceeds the encoder's %d positions; using %d",
            requested,
            limit,
            limit,
        )
        return int(limit)
    return requested


def card_values(
    cfg: DictConfig, spec: DatasetSpec, model: ITERForRelationExtraction, f1: float, env: Mapping
) -> dict[str, object]:
    precision = cfg.trainer.precision
    return {
        "base_model_name": public_encoder_name(cfg.model.transformer),
        "dataset": spec.name,
        "model_name": cfg.model.name,
        "f1": f"{100 * f1:.2f}",
        "model_class": type(model).__name__,
        "seed": cfg.seed,
        "config": spec.name,
        "torch.version": env["torch"],
        "torch.cuda": env["cuda"],
        "torch.precision": precision,
        "gpu": env["gpu"] or f"CPU ({env['torch_threads']} threads)",
        "precision_command": {"bf16": " --use_bfloat16", "fp16": " trainer.precision=fp16"}.get(
            precision, ""
        ),
    }


def card_details(
    command: str, env: Mapping, dev: Mapping | None, test: Mapping | None, best_epoch: int
) -> str:
    lines = ["### This run", "", "Exact command:", "", "```shell", command, "```", ""]
    lines.append(
        f"Checkpoint from epoch {best_epoch}; git commit `{env['git_commit']}`"
        f"{' (uncommitted changes)' if env['git_dirty'] else ''}; "
        f"transformers {env['transformers']}, Python {env['python']}."
    )
    for title, scores in (("dev", dev), ("test", test)):
        if scores:
            lines += ["", f"| {title} | P | R | F1 |", "|---|---|---|---|"]
            for task in TASKS:
                micro = scores[task]["micro"]
                lines.append(
                    f"| {TASK_LABELS[task]} (micro) | {100 * micro['precision']:.2f} | "
                    f"{100 * micro['recall']:.2f} | {100 * micro['f1']:.2f} |"
                )
    return "\n".join(lines)


def exact_command() -> str:
    """This job's command line: train.py with the overrides Hydra received."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:
        overrides = sys.argv[1:]
    return "python3 train.py " + " ".join(shlex.quote(o) for o in overrides)


def find_resume_state(resume: object, run_dir: Path) -> tuple[Path, Path] | None:
    """(state file, run folder) to resume from, or None for a fresh run."""
    if resume in (False, None, "false", ""):
        return None
    folder = run_dir if resume is True or resume == "true" else Path(str(resume))
    state = folder / STATE_FILE
    if not state.is_file():
        raise ConfigError(f"resume: no {STATE_FILE} in {folder}; nothing to resume")
    return state, folder


# Keys that may differ between two runs of the same experiment.
_RUN_LOCAL_KEYS = ("command", "resume", "paths")


def check_same_configuration(run_dir: Path, cfg: DictConfig) -> bool:
    """Whether ``run_dir`` holds a run (finished or interrupted); an error if it holds one
    of another configuration (``command``, ``resume`` and ``paths`` may differ)."""
    if not (run_dir / "metrics.json").is_file() and not (run_dir / STATE_FILE).is_file():
        return False
    config_path = run_dir / "config.yaml"
    current = OmegaConf.to_container(cfg, resolve=True)
    stored = OmegaConf.to_container(OmegaConf.load(config_path)) if config_path.is_file() else {}
    differing = sorted(
        key
        for key in set(current) | set(stored)
        if key not in _RUN_LOCAL_KEYS and current.get(key) != stored.get(key)
    )
    if differing:
        raise ConfigError(
            f"{run_dir} holds a run with a different configuration (in: "
            f"{', '.join(differing)}); choose another sweep_name=... or move that folder"
        )
    return True


def earlier_run(run_dir: Path, cfg: DictConfig) -> tuple[dict | None, bool]:
    """What a re-run sweep finds in ``run_dir``: (metrics if finished, whether to resume).

    Only a run of the same configuration counts; a different one in the same folder is an
    error rather than something to overwrite or to mix into a summary.
    """
    metrics_path = run_dir / "metrics.json"
    if not check_same_configuration(run_dir, cfg):
        return None, False
    if metrics_path.is_file():
        logger.info("%s: already finished, skipped (delete metrics.json to train again)", run_dir)
        print(f"skipped, already finished: {run_dir}")
        return json.loads(metrics_path.read_text()), False
    logger.info("%s: interrupted earlier; continuing from its saved state", run_dir)
    return None, True


class RunFolderLock:
    """An exclusive lock on a run folder, held while a process trains into it.

    An advisory file lock (``filelock``; ``flock`` on Unix): the operating system releases it
    when its process dies, so the lock file a killed run leaves behind never blocks a resume.
    Taking it creates nothing but the folder and its ``.lock`` file; a process that finds
    it held has written nothing into the folder.
    """

    def __init__(self, run_dir: Path) -> None:
        from filelock import FileLock

        self.path = Path(run_dir) / ".lock"
        self._lock = FileLock(str(self.path))

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another live process holds it."""
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()


def train_from_config(cfg: DictConfig, run_dir: Path) -> dict:
    """Train, select on dev, score test; returns the metrics written to metrics.json."""
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    distributed = init_distributed(cfg.trainer.device)
    try:
        return _train(cfg, run_dir, distributed)
    finally:
        shutdown(distributed)


def _train(cfg: DictConfig, run_dir: Path, distributed: DistributedContext) -> dict:
    hydra_dir = run_dir
    # Under torchrun every rank composes its own config; all use rank 0's folder.
    run_dir = distributed.broadcast(run_dir)
    if hydra_dir != run_dir:
        shutil.rmtree(hydra_dir, ignore_errors=True)
    resume = find_resume_state(cfg.get("resume"), run_dir)
    if resume is not None:
        run_dir = resume[1]
    # One live process per run folder: a sweep launched twice, or resubmitted while its jobs
    # still run, skips the runs another process is training instead of writing into them.
    lock = RunFolderLock(run_dir) if distributed.is_main else None
    if distributed.broadcast(lock is not None and not lock.acquire()):
        print(f"skipped: {run_dir} is being trained by another live process")
        return {"skipped": str(run_dir), "dev_score": float("nan")}
    try:
        return _train_in_folder(cfg, run_dir, distributed, resume)
    finally:
        if lock is not None:
            lock.release()


def _train_in_folder(
    cfg: DictConfig,
    run_dir: Path,
    distributed: DistributedContext,
    resume: tuple[Path, Path] | None,
) -> dict:
    if resume is None:
        done, interrupted = earlier_run(run_dir, cfg)
        if done is not None:
            return done
        if interrupted:
            resume = (run_dir / STATE_FILE, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec = DatasetSpec.from_config(cfg.dataset)
    device = device_for(distributed, resolve_device(cfg.trainer.device))
    precision = resolve_precision(cfg.trainer.precision, device)
    if cfg.trainer.get("num_threads"):
        torch.set_num_threads(int(cfg.trainer.num_threads))
    settings = TrainerSettings(
        **{k: cfg.trainer[k] for k in TrainerSettings.__dataclass_fields__ if k in cfg.trainer},
        log_every_n_steps=cfg.logger.get("log_every_n_steps", 10),
        metric_average=spec.metric_average,
    )
    seed_everything(cfg.seed, cfg.trainer.deterministic)

    train_docs = spec.read_splits(spec.train_splits)
    dev_docs = spec.read(spec.dev_split)
    test_docs = spec.read(spec.test_split)
    if spec.dev_split in spec.train_splits and settings.select_best:
        logger.warning(
            "dev split %r is also trained on: selection on it is optimistic", spec.dev_split
        )

    model = build_model(cfg, spec).to(device)
    model.config.max_sequence_length = effective_max_length(model, cfg.model.max_length)
    tokenizer = model.tokenizer
    if distributed.enabled:
        # Identical initial weights come from rank 0 (DDP); dropout should differ per rank.
        torch.manual_seed(cfg.seed + distributed.rank)
    cache_dir = Path(cfg.paths.cache_dir) / "encoded"
    encoded = {}
    if not distributed.is_main:
        distributed.barrier()  # rank 0 encodes and fills the cache first; the others read it
    for name, docs in (("train", train_docs), ("dev", dev_docs), ("test", test_docs)):
        dataset, report = encode_documents(
            docs,
            tokenizer,
            spec.entity_types,
            spec.relation_types,
            model.config.max_sequence_length,
            cache_dir=cache_dir,
            source=f"{spec.name}/{name}",
        )
        message = report.describe(model.config.max_sequence_length)
        if message:
            logger.warning("%s %s: %s", spec.name, name, message)
        encoded[name] = dataset.to_list()
    if distributed.is_main:
        distributed.barrier()
    logger.info(
        "%s: %d train / %d dev / %d test sentences",
        spec.name,
        len(train_docs),
        len(dev_docs),
        len(test_docs),
    )

    env = run_environment(device)
    env["seed"] = cfg.seed
    env["device_description"] = device_description(device)
    env["world_size"] = distributed.world_size
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if distributed.is_main:
        (run_dir / "environment.json").write_text(json.dumps(env, indent=2))
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(resolved))
    command = cfg.get("command") or exact_command()
    checkpoint_dir = run_dir / BEST_CHECKPOINT
    fold = cfg.dataset.get("fold")
    # Cross-validation folds of one seed are separate runs: the fold is in the name.
    run_name = f"{spec.name}-{cfg.model.name}" + (f"-fold{fold}" if fold is not None else "")
    run_name += f"-seed{cfg.seed}"
    experiment_logger = (
        build_logger(cfg.logger, run_dir, run_name, resolved)
        if distributed.is_main
        else NullLogger()
    )
    score = selection_score(spec)

    def on_new_best(epoch: int, result: EvaluationResult) -> None:
        info = {"epoch": epoch, "dev": result.to_dict(), "environment": env, "command": command}
        save_checkpoint(
            model,
            checkpoint_dir,
            card_values(cfg, spec, model, score(result), env),
            card_details(command, env, result.to_dict(), None, epoch),
            info,
        )

    trainer = Trainer(
        model,
        settings,
        precision,
        cfg.seed,
        run_dir,
        score,
        on_new_best,
        experiment_logger=experiment_logger,
        distributed=distributed,
    )
    try:
        state = trainer.fit(
            encoded["train"], dev_docs, encoded["dev"], resume_from=resume[0] if resume else None
        )
        # Score test with the selected checkpoint, loaded from disk as users will load it
        # (every rank decodes a share, once rank 0 has finished writing it).
        distributed.barrier()
        best = type(model).from_pretrained(checkpoint_dir).to(device)
        trainer.model = best
        dev_result = trainer.evaluate(dev_docs, encoded["dev"], desc="dev (best)")
        test_result = trainer.evaluate(test_docs, encoded["test"], desc="test")
        if not distributed.is_main:
            return distributed.broadcast(None)
        metrics = {
            "dataset": spec.name,
            "model": cfg.model.name,
            "transformer": public_encoder_name(cfg.model.transformer),
            "seed": cfg.seed,
            "fold": cfg.dataset.get("fold"),
            "selection": f"{spec.selection_metric} {spec.metric_average}",
            "best_epoch": state.best_epoch,
            "epochs_trained": state.epoch,
            "optimizer_steps": state.global_step,
            "skipped_steps": state.skipped_steps,
            "dev_score": score(dev_result),
            "test_score": score(test_result),
            "history": state.history,
        }
        write_metrics_json(
            run_dir / "metrics.json",
            test_result,
            extra={
                **metrics,
                "dev": dev_result.to_dict(),
            },
        )
        from iter.plots import plot_run

        plot_run(run_dir)  # curves.png: losses and dev scores per epoch
        info = {
            "epoch": state.best_epoch,
            "dev": dev_result.to_dict(),
            "test": test_result.to_dict(),
            "environment": env,
            "command": command,
        }
        update_card(
            checkpoint_dir,
            card_values(cfg, spec, best, score(test_result), env),
            card_details(
                command, env, dev_result.to_dict(), test_result.to_dict(), state.best_epoch
            ),
            info,
        )
        experiment_logger.summary(
            {
                "test/score": score(test_result),
                "dev/score": score(dev_result),
                "test/ner_f1": test_result.ner.micro.f1,
                "test/re_plus_f1": test_result.re_plus.micro.f1,
                "best_epoch": state.best_epoch,
            }
        )
        report = format_report(
            test_result, title=f"{run_name}: test (checkpoint of epoch {state.best_epoch})"
        )
        print(report)
        logger.info("test scores\n%s", report)  # the run's log keeps the final table too
        # A finished run needs no resume state (hundreds of MB): its checkpoint and
        # metrics.json are what a re-run sweep and the summaries read.
        (run_dir / STATE_FILE).unlink(missing_ok=True)
        print(f"run folder: {run_dir}")
        return distributed.broadcast(metrics)
    finally:
        experiment_logger.finish()
