"""One training run from a composed config: data, model, loop, test scores, run folder.

The run folder holds ``config.yaml`` (resolved), ``environment.json`` (versions, git state,
hardware), ``metrics.json`` (per-epoch history, dev and test scores), ``train.log``,
``checkpoint-best/`` (model, tokenizer, model card), the selected checkpoint's predictions
``predictions-dev.json`` and ``predictions-test.json`` (common JSON) and, with W&B, ``wandb/``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from iter.cards import card_details, card_values
from iter.data.augmentation import MentionReplacement
from iter.data.document import Document, relation_signatures
from iter.data.encoding import encode_documents, encode_segments
from iter.data.reader import write_documents
from iter.data.registry import DatasetSpec
from iter.evaluation.metrics import EvaluationResult
from iter.evaluation.report import format_report, write_metrics_json
from iter.evaluation.runner import score_predictions
from iter.evaluation.threshold import ThresholdSearch, search_link_threshold
from iter.modeling.encoder import public_encoder_name
from iter.modeling.model import ITER, ITERForRelationExtraction
from iter.runtime.distributed import (
    DistributedContext,
    device_for,
    init_distributed,
    shutdown,
)
from iter.runtime.precision import (
    Precision,
    device_description,
    flush_denormals,
    resolve_device,
    resolve_precision,
)
from iter.tasks import tasks_of
from iter.training.checkpoint import save_checkpoint, update_card
from iter.training.environment import run_environment
from iter.training.files import METRICS_FILE, STATE_FILE, predictions_file
from iter.training.loggers import NullLogger, build_logger
from iter.training.run_folder import (
    RunFolderLock,
    continue_log_in,
    earlier_run,
    find_resume_state,
    removed_if_setup_fails,
)
from iter.training.schema import validate_config
from iter.training.trainer import EpochRows, Trainer, TrainerSettings, TrainerState

logger = logging.getLogger(__name__)

BEST_CHECKPOINT = "checkpoint-best"


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seeds every generator; ``deterministic`` also asks for deterministic kernels.

    torch only warns (``warn_only``) where an operation has no deterministic kernel, so two
    CUDA sources of noise are switched off here: the memory-efficient attention, whose backward
    pass made runs of one seed on one GPU diverge after 6-13 epochs (the math kernel takes its
    place), and cuBLAS's default workspace (a fixed one must be set before cuBLAS starts; a
    value the user set is kept).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cuda.enable_mem_efficient_sdp(not deterministic)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def selection_score(spec: DatasetSpec):
    """The dev score that selects checkpoints: the dataset's main task and average."""

    def score(result: EvaluationResult) -> float:
        return result.main_f1(spec.selection_metric, spec.metric_average)

    return score


def build_model(
    cfg: DictConfig, spec: DatasetSpec, train_documents: Sequence[Document] = ()
) -> ITERForRelationExtraction:
    """The model a config describes; ``train_documents`` give the relation signatures that
    ``model.signature_constraint`` keeps decoding to."""
    cls = ITERForRelationExtraction if spec.relation_types else ITER
    signatures = None
    if cfg.model.get("signature_constraint", False) and spec.relation_types:
        signatures = relation_signatures(train_documents)
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
        link_distance=cfg.model.get("link_distance", False),
        layer_mix=cfg.model.get("layer_mix", "last"),
        inverse_link_types=cfg.model.get("inverse_link_types", False),
        relation_signatures=signatures,
        drop_overlapping_spans=cfg.model.get("drop_overlapping_spans", False),
        link_threshold=cfg.model.link_threshold,
        max_sequence_length=cfg.model.max_length,
        dataset=spec.name,
        text_splitting={
            "words": spec.word_splitter,
            "sentences": spec.sentence_splitter,
            "context_window": spec.context_window,
        },
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


def exact_command() -> str:
    """This job's command line, as the user typed its program (``iter train`` or
    ``python3 train.py``), with the overrides Hydra received."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:
        overrides = sys.argv[1:]
    program = "iter train" if Path(sys.argv[0]).name == "iter" else "python3 train.py"
    return f"{program} " + " ".join(shlex.quote(o) for o in overrides)


def train_from_config(cfg: DictConfig, run_dir: Path) -> dict:
    """Train, select on dev, score test; returns the metrics written to metrics.json."""
    validate_config(cfg)  # before the data, the encoder or a device is touched
    distributed = init_distributed(cfg.trainer.device)
    try:
        metrics = _train(cfg, run_dir, distributed)
        # Rank 0 writes the card and metrics after the others are done; without this wait
        # they tear their end of the group down while rank 0 still holds it, and gloo can
        # abort rank 0 at exit ("terminate called without an active exception").
        distributed.barrier()
        return metrics
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
        if distributed.is_main:
            continue_log_in(run_dir, hydra_dir)
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


@dataclass
class _Run:
    """The pieces the stages of one run share; the stages fill the later fields in order."""

    cfg: DictConfig
    folder: Path
    distributed: DistributedContext
    spec: DatasetSpec
    device: torch.device
    precision: Precision
    settings: TrainerSettings
    score: Callable[[EvaluationResult], float]
    documents: dict[str, list[Document]] = field(default_factory=dict)  # train, dev, test
    encoded: dict[str, list[dict]] = field(default_factory=dict)  # the same, as model rows
    env: dict = field(default_factory=dict)
    command: str = ""
    name: str = ""
    threshold_search: ThresholdSearch | None = None  # trainer.tune_link_threshold

    @property
    def checkpoint_dir(self) -> Path:
        return self.folder / BEST_CHECKPOINT

    @property
    def tasks(self) -> tuple[str, ...]:
        """The scored tasks the card shows (NER alone on entity-only data)."""
        return tasks_of(bool(self.spec.relation_types))


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
    # A user error while setting up (bad data, a missing encoder) leaves a folder without a
    # result; rank 0 removes it, unless it is a resumed run's.
    with removed_if_setup_fails(run_dir, distributed.is_main and resume is None):
        run = _set_up(cfg, run_dir, distributed)
        _read_documents(run)
        model = _build_run_model(run)
        _encode(run, model)
        resolved = _describe_run(run)
        experiment_logger = (
            build_logger(cfg.logger, run_dir, run.name, resolved)
            if distributed.is_main
            else NullLogger()
        )
        trainer = Trainer(
            model,
            run.settings,
            run.precision,
            cfg.seed,
            run_dir,
            run.score,
            _checkpoint_saver(run, model),
            experiment_logger=experiment_logger,
            distributed=distributed,
        )
    try:
        return _fit_and_score(run, trainer, resume, experiment_logger)
    finally:
        experiment_logger.finish()


# ----------------------------------------------------------------------------- stages
def _set_up(cfg: DictConfig, run_dir: Path, distributed: DistributedContext) -> _Run:
    """Dataset, device, precision, threads and loop settings; then the seeds."""
    spec = DatasetSpec.from_config(cfg.dataset)
    device = device_for(distributed, resolve_device(cfg.trainer.device))
    precision = resolve_precision(cfg.trainer.precision, device)
    # Before the first parallel operation, so that every intra-op thread copies the mode.
    if cfg.trainer.get("flush_denormals", True) and not flush_denormals():
        logger.warning("trainer.flush_denormals: this CPU cannot flush denormal floats")
    if cfg.trainer.get("num_threads"):
        torch.set_num_threads(int(cfg.trainer.num_threads))
    settings = TrainerSettings(
        **{k: cfg.trainer[k] for k in TrainerSettings.__dataclass_fields__ if k in cfg.trainer},
        log_every_n_steps=cfg.logger.get("log_every_n_steps", 10),
        metric_average=spec.metric_average,
    )
    seed_everything(cfg.seed, cfg.trainer.deterministic)
    score = selection_score(spec)
    return _Run(cfg, run_dir, distributed, spec, device, precision, settings, score)


def _read_documents(run: _Run) -> None:
    spec = run.spec
    run.documents["train"] = spec.read_splits(spec.train_splits)
    run.documents["dev"] = spec.read(spec.dev_split)
    run.documents["test"] = spec.read(spec.test_split)
    if spec.dev_split in spec.train_splits and run.settings.select_best:
        logger.warning(
            "dev split %r is also trained on: selection on it is optimistic", spec.dev_split
        )


def _build_run_model(run: _Run) -> ITERForRelationExtraction:
    model = build_model(run.cfg, run.spec, run.documents["train"]).to(run.device)
    model.config.max_sequence_length = effective_max_length(model, run.cfg.model.max_length)
    if run.distributed.enabled:
        # Identical initial weights come from rank 0 (DDP); dropout should differ per rank.
        torch.manual_seed(run.cfg.seed + run.distributed.rank)
    return model


def _encode(run: _Run, model: ITERForRelationExtraction) -> None:
    """Every split as model rows, from the cache that rank 0 fills before the others read."""
    distributed = run.distributed
    if not distributed.is_main:
        distributed.barrier()  # rank 0 encodes and fills the cache first; the others read it
    for name in ("train", "dev", "test"):
        run.encoded[name] = _encode_split(run, model, name)
    if distributed.is_main:
        distributed.barrier()
    logger.info(
        "%s: %d train / %d dev / %d test sentences",
        run.spec.name,
        len(run.documents["train"]),
        len(run.documents["dev"]),
        len(run.documents["test"]),
    )


def _encode_split(run: _Run, model: ITERForRelationExtraction, name: str) -> list[dict]:
    spec, max_length = run.spec, model.config.max_sequence_length
    dataset, report = encode_documents(
        run.documents[name],
        model.tokenizer,
        spec.entity_types,
        spec.relation_types,
        max_length,
        cache_dir=Path(run.cfg.paths.cache_dir) / "encoded",
        source=f"{spec.name}/{name}",
    )
    message = report.describe(max_length)
    if message:
        logger.warning("%s %s: %s", spec.name, name, message)
    return dataset.to_list()


def _train_rows(run: _Run, model: ITERForRelationExtraction) -> list[dict] | EpochRows:
    """The encoded training rows; with mention replacement, a function giving each epoch its
    own (tokenizing the ~1,000 sentences of CoNLL04 again takes well under a second)."""
    rate = run.settings.mention_replacement
    if rate == 0:
        return run.encoded["train"]
    documents = run.documents["train"]
    augmentation = MentionReplacement(documents, rate, run.cfg.seed)
    spec = run.spec

    def rows_of(epoch: int) -> list[dict]:
        rows, _ = encode_segments(
            augmentation.epoch(documents, epoch),
            model.tokenizer,
            spec.entity_types,
            spec.relation_types,
            model.config.max_sequence_length,
        )
        return rows

    return rows_of


def _describe_run(run: _Run) -> dict:
    """The run's environment, command and name; rank 0 writes environment.json and
    config.yaml. Returns the resolved config."""
    cfg, distributed = run.cfg, run.distributed
    run.env = run_environment(run.device)
    run.env["seed"] = cfg.seed
    run.env["device_description"] = device_description(run.device)
    run.env["world_size"] = distributed.world_size
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if distributed.is_main:
        (run.folder / "environment.json").write_text(json.dumps(run.env, indent=2))
        (run.folder / "config.yaml").write_text(OmegaConf.to_yaml(resolved))
    run.command = cfg.get("command") or exact_command()
    fold = cfg.dataset.get("fold")
    # Cross-validation folds of one seed are separate runs: the fold is in the name.
    run.name = f"{run.spec.name}-{cfg.model.name}" + (f"-fold{fold}" if fold is not None else "")
    run.name += f"-seed{cfg.seed}"
    return resolved


def _checkpoint_saver(
    run: _Run, model: ITERForRelationExtraction
) -> Callable[[int, EvaluationResult], None]:
    """What the trainer calls on a new best dev score: save the checkpoint with its card."""

    def on_new_best(epoch: int, result: EvaluationResult) -> None:
        info = {
            "epoch": epoch,
            "dev": result.to_dict(),
            "environment": run.env,
            "command": run.command,
        }
        save_checkpoint(
            model,
            run.checkpoint_dir,
            # Before test is scored, the card reports the dev scores that chose this epoch.
            card_values(run.cfg, run.spec, model, result.to_dict(), "dev", run.env),
            card_details(run.command, run.env, result.to_dict(), None, epoch, run.tasks),
            info,
        )

    return on_new_best


def _fit_and_score(
    run: _Run,
    trainer: Trainer,
    resume: tuple[Path, Path] | None,
    experiment_logger: NullLogger,
) -> dict:
    """Train, then score the selected checkpoint; rank 0 writes the results."""
    state = trainer.fit(
        _train_rows(run, trainer.model),
        run.documents["dev"],
        run.encoded["dev"],
        resume_from=resume[0] if resume else None,
    )
    best, predictions = _predict_with_best(run, trainer)
    dev_result = score_predictions(best, run.documents["dev"], predictions["dev"])
    test_result = score_predictions(best, run.documents["test"], predictions["test"])
    if not run.distributed.is_main:
        return run.distributed.broadcast(None)
    for role, documents in predictions.items():
        # What the checkpoint predicted: evaluate.py --compare and scripts/compare_runs.py
        # read these to test a difference between runs without their checkpoints.
        write_documents(documents, run.folder / predictions_file(role))
    metrics = _write_results(run, state, dev_result, test_result)
    _update_best_card(run, best, state, dev_result, test_result)
    experiment_logger.summary(
        {
            "test/score": run.score(test_result),
            "dev/score": run.score(dev_result),
            "test/ner_f1": test_result.ner.micro.f1,
            "test/re_plus_f1": test_result.re_plus.micro.f1,
            "best_epoch": state.best_epoch,
        }
    )
    _report(run, state, test_result)
    return run.distributed.broadcast(metrics)


def _predict_with_best(
    run: _Run, trainer: Trainer
) -> tuple[ITERForRelationExtraction, dict[str, list[Document]]]:
    """The selected checkpoint and its predictions of the dev and test documents."""
    # Predict with the selected checkpoint, loaded from disk as users will load it
    # (every rank decodes a share, once rank 0 has finished writing it).
    run.distributed.barrier()
    best = type(trainer.model).from_pretrained(run.checkpoint_dir).to(run.device)
    trainer.model = best
    if run.cfg.trainer.get("tune_link_threshold") and best.link_head is not None:
        run.threshold_search = _tune_link_threshold(run, best)
    predictions = {
        role: trainer.predict(run.documents[role], run.encoded[role], desc=desc)
        for role, desc in (("dev", "dev (best)"), ("test", "test"))
    }
    return best, predictions


def _tune_link_threshold(run: _Run, best: ITERForRelationExtraction) -> ThresholdSearch:
    """Choose the link threshold on dev and store it in the selected checkpoint."""
    # Every rank searches the whole dev set (small next to training), so that all of them
    # choose the same threshold without a broadcast.
    search = search_link_threshold(
        best,
        run.documents["dev"],
        run.score,
        batch_size=run.settings.eval_batch_size,
        autocast=run.precision.autocast(),
        segments=run.encoded["dev"],
    )
    best.config.link_threshold = search.threshold
    logger.info("link threshold chosen on dev:\n%s", search.format("dev"))
    if run.distributed.is_main:
        best.config.save_pretrained(run.checkpoint_dir)
    run.distributed.barrier()
    return search


def _write_results(
    run: _Run, state: TrainerState, dev_result: EvaluationResult, test_result: EvaluationResult
) -> dict:
    """metrics.json and curves.png (losses and dev scores per epoch); returns the metrics."""
    cfg, spec = run.cfg, run.spec
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
        "dev_score": run.score(dev_result),
        "test_score": run.score(test_result),
        "history": state.history,
    }
    if run.threshold_search is not None:
        metrics["link_threshold_search"] = run.threshold_search.to_dict()
    write_metrics_json(
        run.folder / METRICS_FILE, test_result, extra={**metrics, "dev": dev_result.to_dict()}
    )
    from iter.plots import plot_run

    plot_run(run.folder)
    return metrics


def _update_best_card(
    run: _Run,
    best: ITERForRelationExtraction,
    state: TrainerState,
    dev_result: EvaluationResult,
    test_result: EvaluationResult,
) -> None:
    """The selected checkpoint's card and info, now with its test scores."""
    info = {
        "epoch": state.best_epoch,
        "dev": dev_result.to_dict(),
        "test": test_result.to_dict(),
        "environment": run.env,
        "command": run.command,
    }
    update_card(
        run.checkpoint_dir,
        card_values(run.cfg, run.spec, best, test_result.to_dict(), "test", run.env),
        card_details(
            run.command,
            run.env,
            dev_result.to_dict(),
            test_result.to_dict(),
            state.best_epoch,
            run.tasks,
        ),
        info,
    )


def _report(run: _Run, state: TrainerState, test_result: EvaluationResult) -> None:
    """Print the test table (the run's log keeps it too); drop the finished run's state."""
    report = format_report(
        test_result, title=f"{run.name}: test (checkpoint of epoch {state.best_epoch})"
    )
    print(report)
    logger.info("test scores\n%s", report)  # the run's log keeps the final table too
    # A finished run needs no resume state (hundreds of MB): its checkpoint and
    # metrics.json are what a re-run sweep and the summaries read.
    (run.folder / STATE_FILE).unlink(missing_ok=True)
    print(f"run folder: {run.folder}")
