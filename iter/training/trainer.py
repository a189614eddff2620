"""The training loop: epochs of teacher-forced steps, dev evaluation, selection, early stop.

Resumable: after every epoch, and when SIGTERM/SIGINT arrives, the full state (weights,
optimiser, scheduler, scaler, RNG states, position in the epoch, best score) is written
atomically. Batch order is a function of (seed, epoch), so a resumed run replays exactly the
batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import signal
import time
import typing
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from iter.data.collate import batch_order, iterate_batches
from iter.data.document import Document
from iter.errors import ConfigError, IterError
from iter.evaluation.metrics import EvaluationResult
from iter.evaluation.runner import predict_distributed, score_predictions
from iter.modeling.model import ITERForRelationExtraction
from iter.runtime.distributed import DistributedContext
from iter.runtime.precision import Precision
from iter.tasks import AVERAGES
from iter.training.files import STATE_FILE
from iter.training.loggers import NullLogger
from iter.training.optim import SCHEDULES, build_optimizer, build_scheduler, current_lr
from iter.training.weight_average import WeightAverage

logger = logging.getLogger(__name__)


class TrainingInterrupted(IterError):
    """SIGTERM/SIGINT arrived; the state was saved and the run can be resumed."""

    exit_code = 130


class NonFiniteLossError(IterError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3


@dataclass
class TrainerSettings:
    max_epochs: int
    patience: int
    batch_size: int
    eval_batch_size: int
    encoder_lr: float
    head_lr: float
    encoder_weight_decay: float
    head_weight_decay: float
    encoder_warmup: float
    head_warmup: float
    gradient_clip: float | None
    encoder_schedule: str = "linear"
    head_schedule: str = "linear"
    select_best: bool = True
    group_by_length: bool = False
    # How dev F1 is averaged in the logged curves: the dataset's (ADE: macro).
    metric_average: str = "micro"
    limit_train_batches: int | None = None
    log_every_n_steps: int = 10
    # Dev scoring, selection and the checkpoint use an exponential moving average of the
    # weights with this decay (per optimiser step); None trains and selects the raw weights.
    ema_decay: float | None = None
    # Each epoch, each training mention is swapped for another of its type with this
    # probability (iter.data.augmentation); 0 trains on the data as it is.
    mention_replacement: float = 0.0

    def __post_init__(self) -> None:
        self._check_types()
        self._check_values()

    def _check_types(self) -> None:
        for name, hint in typing.get_type_hints(TrainerSettings).items():
            value = getattr(self, name)
            expected = set(typing.get_args(hint)) or {hint}  # `float | None` -> {float, None}
            if value is None and type(None) in expected:
                continue
            # An int is a valid float; bool is an int in Python, but neither
            # `trainer.batch_size=true` nor `trainer.select_best=1` is what the user meant.
            wanted = (
                bool if bool in expected else float if float in expected
                else str if str in expected else int
            )  # fmt: skip
            if wanted is str:
                ok = isinstance(value, str)
            elif wanted is bool:
                ok = isinstance(value, bool)
            else:
                numbers = (int, float) if wanted is float else (int,)
                ok = isinstance(value, numbers) and not isinstance(value, bool)
            if not ok:
                kind = {int: "an integer", bool: "true or false", str: "a name"}.get(
                    wanted, "a number"
                )
                raise ConfigError(f"trainer.{name} must be {kind}, got {value!r}")

    def _check_values(self) -> None:
        for name in ("max_epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        if self.patience < 1:
            raise ConfigError(f"trainer.patience must be >= 1, got {self.patience}")
        for name in ("encoder_lr", "head_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"trainer.{name} must be > 0, got {getattr(self, name)}")
        for name in ("encoder_weight_decay", "head_weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"trainer.{name} must be >= 0, got {getattr(self, name)}")
        if self.metric_average not in AVERAGES:
            raise ConfigError(f"metric_average must be micro or macro, got {self.metric_average!r}")
        for name in ("encoder_schedule", "head_schedule"):
            if getattr(self, name) not in SCHEDULES:
                raise ConfigError(
                    f"trainer.{name} must be one of {', '.join(SCHEDULES)}; "
                    f"got {getattr(self, name)!r}"
                )
        for name in ("encoder_warmup", "head_warmup"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(
                    f"trainer.{name} is a fraction of all steps, in [0, 1]; "
                    f"got {getattr(self, name)}"
                )
        if self.gradient_clip is not None and not self.gradient_clip > 0:
            raise ConfigError(
                f"trainer.gradient_clip must be > 0 or null, got {self.gradient_clip}"
            )
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(
                f"trainer.ema_decay must be in (0, 1) or null, got {self.ema_decay}"
            )
        if not 0 <= self.mention_replacement <= 1:
            raise ConfigError(
                "trainer.mention_replacement is a probability, in [0, 1]; "
                f"got {self.mention_replacement}"
            )
        if self.limit_train_batches is not None and self.limit_train_batches < 1:
            raise ConfigError("trainer.limit_train_batches must be >= 1 or null")


LOSS_KEYS = ("loss", "start_loss", "span_loss", "link_loss")

# The training rows of an epoch, by its index from 0 (the same index gives the same rows).
EpochRows = Callable[[int], Sequence[dict]]


@dataclass
class TrainerState:
    epoch: int = 0  # epochs completed
    step_in_epoch: int = 0  # optimizer steps done in the current (unfinished) epoch
    global_step: int = 0
    best_score: float = -1.0
    best_epoch: int = -1
    epochs_without_improvement: int = 0
    skipped_steps: int = 0
    # Loss sums over the current epoch's steps, kept in the state so that an epoch resumed
    # mid-way reports the same mean loss as an uninterrupted one.
    epoch_loss_sums: dict[str, float] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    finished: bool = False


class Trainer:
    def __init__(
        self,
        model: ITERForRelationExtraction,
        settings: TrainerSettings,
        precision: Precision,
        seed: int,
        run_dir: Path,
        score: Callable[[EvaluationResult], float],
        on_new_best: Callable[[int, EvaluationResult], None],
        experiment_logger: NullLogger | None = None,
        distributed: DistributedContext | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.precision = precision
        self.seed = seed
        self.run_dir = run_dir
        self.score = score
        self.on_new_best = on_new_best
        self.log = experiment_logger or NullLogger()
        self.state = TrainerState()
        self._stop_signal: int | None = None
        self.optimizer = build_optimizer(
            model,
            settings.encoder_lr,
            settings.head_lr,
            settings.encoder_weight_decay,
            settings.head_weight_decay,
        )
        self.scaler = precision.grad_scaler()
        self.weight_average = (
            WeightAverage(model, settings.ema_decay) if settings.ema_decay is not None else None
        )
        self.scheduler = None
        # A resumed state's scheduler, loaded once ``fit`` has built the scheduler.
        self._pending_scheduler_state: dict | None = None
        self.distributed = distributed or DistributedContext()
        # Training steps go through DDP when several processes train; evaluation, saving and
        # decoding use the plain module.
        self.train_model: torch.nn.Module = model
        if self.distributed.enabled:
            self.train_model = torch.nn.parallel.DistributedDataParallel(
                model,
                device_ids=[precision.device.index] if precision.device.type == "cuda" else None,
                # A batch without entities leaves the link head out of the graph.
                find_unused_parameters=True,
            )

    # ----------------------------------------------------------------- evaluation
    def predict(
        self, documents: Sequence[Document], segments: Sequence[dict], desc: str = "eval"
    ) -> list[Document]:
        """``documents`` with the model's predictions; under DDP every rank decodes a share
        and gets all."""
        return predict_distributed(
            self.model,
            documents,
            segments,
            self.distributed,
            batch_size=self.settings.eval_batch_size,
            autocast=self.precision.autocast(),
            progress=lambda it, total: tqdm(
                it, total=total, desc=desc, leave=False, disable=not self.distributed.is_main
            ),
        )

    def evaluate(
        self, documents: Sequence[Document], segments: Sequence[dict], desc: str = "eval"
    ) -> EvaluationResult:
        """Scores on ``documents`` (:meth:`predict`, then the gold annotations)."""
        return score_predictions(self.model, documents, self.predict(documents, segments, desc))

    # ----------------------------------------------------------------- state
    def state_path(self) -> Path:
        return self.run_dir / STATE_FILE

    def _rank_state(self) -> dict:
        """What differs between ranks: random generators and this rank's loss sums."""
        return {
            "rng": {
                "python": random.getstate(),
                "numpy": np.random.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            },
            "epoch_loss_sums": dict(self.state.epoch_loss_sums),
        }

    def save_state(self) -> None:
        """Write the state to resume from (atomically). Every rank calls it: each one's
        random generators and loss sums are gathered, and rank 0 writes them all, so a
        resumed multi-process run continues exactly as an uninterrupted one."""
        ranks = self.distributed.gather(self._rank_state())
        if not self.distributed.is_main:
            return
        state = {
            "trainer": self.state.__dict__,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "weight_average": (
                self.weight_average.state_dict() if self.weight_average is not None else None
            ),
            "rng": ranks[0]["rng"],
            "ranks": ranks,
        }
        path = self.state_path()
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def load_state(self, path: Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._pending_scheduler_state = state["scheduler"]
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        if self.weight_average is not None:
            if state.get("weight_average") is None:
                raise ConfigError(
                    f"{path} was saved without trainer.ema_decay: a run cannot be resumed "
                    "with a weight average it did not keep"
                )
            self.weight_average.load_state_dict(state["weight_average"])
        self.state = TrainerState(**state["trainer"])
        ranks = state.get("ranks") or [{"rng": state["rng"]}]
        if len(ranks) == self.distributed.world_size:
            mine = ranks[self.distributed.rank]
        else:
            # Another number of processes: the data is sharded differently anyway, so the
            # run continues correctly but not step for step as it would have.
            logger.warning(
                "resuming a %d-process run with %d processes: not bit-identical to an "
                "uninterrupted run",
                len(ranks),
                self.distributed.world_size,
            )
            mine = {"rng": ranks[0]["rng"]}
        if "epoch_loss_sums" in mine:
            self.state.epoch_loss_sums = mine["epoch_loss_sums"]
        rng = mine["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def _handle_signal(self, signum: int, frame: object) -> None:
        # Finish the current step, then save. A second Ctrl-C stops at once; a repeated
        # SIGTERM does not (Slurm and torchrun both pass one on to processes that already
        # got theirs, and the state being saved must not be cut short).
        if self._stop_signal is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self._stop_signal = signum

    # ----------------------------------------------------------------- training
    def _epoch_order(self, lengths: Sequence[int], epoch: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = batch_order(
            lengths,
            self.settings.batch_size,
            shuffle=True,
            generator=generator,
            group_by_length=self.settings.group_by_length,
        )
        if self.settings.limit_train_batches is not None:
            order = order[: self.settings.limit_train_batches]
        return self.distributed.shard(order)

    def fit(
        self,
        train_segments: Sequence[dict] | EpochRows,
        dev_documents: Sequence[Document],
        dev_segments: Sequence[dict],
        resume_from: Path | None = None,
    ) -> TrainerState:
        """Train; ``train_segments`` are the training rows, or a function giving each epoch
        its own (an augmented training set)."""
        s = self.settings
        rows_of = train_segments if callable(train_segments) else lambda epoch: train_segments
        first = rows_of(0)
        steps_per_epoch = len(self._epoch_order([len(r["input_ids"]) for r in first], 0))
        total_steps = steps_per_epoch * s.max_epochs
        self.scheduler = build_scheduler(
            self.optimizer,
            total_steps,
            s.encoder_warmup,
            s.head_warmup,
            s.encoder_schedule,
            s.head_schedule,
        )
        if resume_from is not None:
            self.load_state(resume_from)
            if self._pending_scheduler_state is not None:
                self.scheduler.load_state_dict(self._pending_scheduler_state)
            logger.info(
                "resumed at epoch %d, step %d of that epoch (global step %d)",
                self.state.epoch + 1,
                self.state.step_in_epoch,
                self.state.global_step,
            )
        previous = {
            sig: signal.signal(sig, self._handle_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self._fit_epochs(rows_of, dev_documents, dev_segments)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.state

    def _fit_epochs(
        self,
        rows_of: EpochRows,
        dev_documents: Sequence[Document],
        dev_segments: Sequence[dict],
    ) -> None:
        s, st = self.settings, self.state
        epochs = tqdm(
            range(st.epoch, s.max_epochs), desc="epochs", initial=st.epoch, total=s.max_epochs
        )
        for epoch in epochs:
            started = time.monotonic()
            train_segments = rows_of(epoch)
            lengths = [len(row["input_ids"]) for row in train_segments]
            means = self._train_epoch(train_segments, lengths, epoch)
            dev_score = self._end_epoch(epoch, means, dev_documents, dev_segments)
            # Wall time of the epoch's steps and dev scoring, for the sweeps' time column (an
            # epoch resumed mid-way counts only the resumed process's part).
            st.history[-1]["seconds"] = round(time.monotonic() - started, 3)
            epochs.set_postfix(dev=f"{100 * dev_score:.2f}", best=f"{100 * st.best_score:.2f}")
            logger.info(
                "epoch %d: train loss %.4f, dev score %.2f (best %.2f at epoch %d)",
                st.epoch,
                means["loss"],
                100 * dev_score,
                100 * st.best_score,
                st.best_epoch,
            )
            if self._stop_after_epoch():
                break

    def _train_epoch(
        self, train_segments: Sequence[dict], lengths: Sequence[int], epoch: int
    ) -> dict[str, float]:
        """The steps of one epoch (from where a resumed run left it); returns the mean losses
        over all ranks."""
        s, st = self.settings, self.state
        order = self._epoch_order(lengths, epoch)
        self.model.train()
        if st.step_in_epoch == 0:
            st.epoch_loss_sums = dict.fromkeys(LOSS_KEYS, 0.0)
        running = st.epoch_loss_sums
        done_before = st.step_in_epoch
        pad_id = self.model.tokenizer.pad_token_id
        steps = tqdm(
            iterate_batches(train_segments, s.batch_size, pad_id, order=order[done_before:]),
            total=len(order),
            initial=done_before,
            desc=f"epoch {epoch + 1}",
            leave=False,
        )
        for batch in steps:
            losses = self._train_step(batch)
            for key in running:
                running[key] += losses[key]
            st.step_in_epoch += 1
            st.global_step += 1
            steps.set_postfix(loss=f"{losses['loss']:.4f}")
            if st.global_step % s.log_every_n_steps == 0:
                self._log_step(losses, epoch)
            self._stop_if_signalled(epoch)
        done = max(1, st.step_in_epoch)
        return self.distributed.mean({k: v / done for k, v in running.items()})

    def _stop_if_signalled(self, epoch: int) -> None:
        """Save the state and stop when a signal has reached any rank."""
        # All ranks stop after the same step (a signal may reach them at different
        # steps; one rank leaving early would hang the others' gradient exchange).
        if not self.distributed.any(self._stop_signal is not None):
            return
        self.save_state()
        received = (
            signal.Signals(self._stop_signal).name
            if self._stop_signal is not None
            else "sent to another rank"
        )
        raise TrainingInterrupted(
            f"stopped by signal {received} at epoch "
            f"{epoch + 1}, step {self.state.step_in_epoch}; state saved to "
            f"{self.state_path()}; continue with resume={self.run_dir}"
        )

    def _end_epoch(
        self,
        epoch: int,
        means: dict[str, float],
        dev_documents: Sequence[Document],
        dev_segments: Sequence[dict],
    ) -> float:
        """Dev evaluation after an epoch: its record, its logged curves and the selection.
        Returns the dev score."""
        st = self.state
        with self._selected_weights():
            # Every rank decodes a share of dev and scores all of it: the same decisions follow.
            result = self.evaluate(dev_documents, dev_segments, desc="dev")
            dev_score = self.score(result)
            st.epoch = epoch + 1
            st.step_in_epoch = 0
            record = {
                "epoch": st.epoch,
                "dev_score": dev_score,
                **{f"train_{k}": v for k, v in means.items()},
                "dev": result.to_dict(),
            }
            st.history.append(record)
            if self.distributed.is_main:
                self._log_epoch(result, dev_score, means)
            # A new best saves the weights that were scored.
            self._select(result, dev_score)
        return dev_score

    def _selected_weights(self) -> contextlib.AbstractContextManager:
        """The weights that dev scores and checkpoints see: the average when one is kept."""
        if self.weight_average is None:
            return contextlib.nullcontext()
        return self.weight_average.applied(self.model)

    def _select(self, result: EvaluationResult, dev_score: float) -> None:
        """Keep the best dev score; a new best (or, without selection, every epoch) saves
        the checkpoint."""
        st = self.state
        improved = dev_score > st.best_score
        if improved:
            st.best_score = dev_score
            st.epochs_without_improvement = 0
        else:
            st.epochs_without_improvement += 1
        # Without selection the checkpoint follows the last epoch.
        if improved or not self.settings.select_best:
            st.best_epoch = st.epoch
            if self.distributed.is_main:
                self.on_new_best(st.epoch, result)

    def _stop_after_epoch(self) -> bool:
        """Whether training ends early (patience spent); saves the state either way."""
        s, st = self.settings, self.state
        stop = s.select_best and st.epochs_without_improvement >= s.patience
        st.finished = stop or st.epoch == s.max_epochs
        self.save_state()
        if stop:
            logger.info("early stop: no better dev score for %d epochs", s.patience)
        return stop

    def _log_step(self, losses: dict[str, float], epoch: int) -> None:
        self.log.log(
            {f"train/{k}": v for k, v in losses.items()}
            | {
                "train/lr_encoder": current_lr(self.scheduler, "encoder"),
                "train/lr_heads": current_lr(self.scheduler, "heads"),
                "epoch": epoch + 1,
            },
            step=self.state.global_step,
        )

    def _log_epoch(self, result: EvaluationResult, dev_score: float, means: dict) -> None:
        average = self.settings.metric_average
        self.log.log(
            {
                "dev/score": dev_score,
                "dev/ner_f1": result.ner.f1(average),
                "dev/re_f1": result.re.f1(average),
                "dev/re_plus_f1": result.re_plus.f1(average),
                **{f"train/epoch_{k}": v for k, v in means.items()},
                "epoch": self.state.epoch,
            },
            step=self.state.global_step,
        )

    def _train_step(self, batch) -> dict[str, float]:
        inputs = batch.model_inputs(self.precision.device)
        with self.precision.autocast()():
            output = self.train_model(**inputs)
        loss = output.loss
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss is {loss.item()} at epoch {self.state.epoch + 1}, step "
                f"{self.state.step_in_epoch + 1} (global step {self.state.global_step + 1}); "
                "stopped; the last good checkpoint is kept. Try a lower learning rate or fp32."
            )
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), self.settings.gradient_clip or math.inf
        )
        if self.scaler is not None:
            # The scaler skips the update itself when gradients overflowed.
            self.scaler.step(self.optimizer)
            self.scaler.update()
        elif torch.isfinite(norm):
            self.optimizer.step()
        else:
            # bf16/fp32 have no scaler: never apply an overflowed gradient to the weights.
            self.state.skipped_steps += 1
            logger.warning("skipped step %d: non-finite gradient norm", self.state.global_step + 1)
        with warnings.catch_warnings():
            # The schedule follows the global step, skipped or not, so a resumed run lines up;
            # PyTorch warns when the very first optimizer step was the one skipped.
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.weight_average is not None:
            self.weight_average.update(self.model)
        return {
            "loss": loss.item(),
            "start_loss": output.start_loss.item(),
            "span_loss": output.span_loss.item(),
            "link_loss": output.link_loss.item(),
        }
