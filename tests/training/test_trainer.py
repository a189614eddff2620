"""The training loop's guards, on a tiny model: NaN loss, overflowed gradients, signals."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from iter.data.encoding import encode_documents
from iter.evaluation import EvaluationResult
from iter.runtime.precision import Precision
from iter.training.files import STATE_FILE
from iter.training.trainer import (
    NonFiniteLossError,
    Trainer,
    TrainerSettings,
    TrainingInterrupted,
)
from tests.conftest import tiny_model
from tests.modeling.test_model import toy_documents


def settings(**overrides) -> TrainerSettings:
    values = dict(
        max_epochs=2,
        patience=2,
        batch_size=1,
        eval_batch_size=2,
        encoder_lr=1e-3,
        head_lr=1e-3,
        encoder_weight_decay=0.0,
        head_weight_decay=0.0,
        encoder_warmup=0.0,
        head_warmup=0.0,
        gradient_clip=1.0,
    )
    values.update(overrides)
    return TrainerSettings(**values)


def make_trainer(tokenizer, tmp_path: Path, saved: list, **overrides) -> tuple[Trainer, list]:
    model = tiny_model(tokenizer)
    docs = toy_documents()
    encoded, _ = encode_documents(
        docs, tokenizer, model.config.entity_types, model.config.relation_types, 128
    )

    def on_new_best(epoch: int, result: EvaluationResult) -> None:
        saved.append(epoch)

    trainer = Trainer(
        model,
        settings(**overrides),
        Precision("fp32", torch.device("cpu")),
        1,
        tmp_path,
        score=lambda r: r.ner.micro.f1,
        on_new_best=on_new_best,
    )
    return trainer, [docs, encoded.to_list()]


def test_trains_evaluates_and_writes_state(minilm_tokenizer, tmp_path):
    saved: list[int] = []
    trainer, (docs, segments) = make_trainer(minilm_tokenizer, tmp_path, saved)
    state = trainer.fit(segments, docs, segments)
    assert state.epoch == 2 and state.global_step == 4 and state.finished
    assert len(state.history) == 2 and saved  # at least the first epoch was a new best
    assert (tmp_path / STATE_FILE).is_file()


def test_each_epoch_trains_on_the_rows_given_for_it(minilm_tokenizer, tmp_path):
    """An augmented training set: a function of the epoch gives the rows (mention
    replacement); every epoch asks for its own, and steps follow the rows it got."""
    trainer, (docs, segments) = make_trainer(minilm_tokenizer, tmp_path, [], max_epochs=3)
    asked: list[int] = []

    def rows_of(epoch: int) -> list[dict]:
        asked.append(epoch)
        return segments[: 1 + epoch % 2]  # one row in even epochs, two in odd ones

    state = trainer.fit(rows_of, docs, segments)
    assert sorted(set(asked)) == [0, 1, 2]
    assert state.global_step == 1 + 2 + 1


def test_nan_loss_stops_with_the_step_named(minilm_tokenizer, tmp_path, monkeypatch):
    trainer, (docs, segments) = make_trainer(minilm_tokenizer, tmp_path, [])
    forward = trainer.model.forward
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        output = forward(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            output.loss = output.loss * float("nan")
        return output

    monkeypatch.setattr(trainer.model, "forward", poisoned)
    with pytest.raises(
        NonFiniteLossError, match=r"loss is nan at epoch 2, step 1 \(global step 3\)"
    ):
        trainer.fit(segments, docs, segments)
    # The state of the last finished epoch (1) is what stays on disk.
    state = torch.load(tmp_path / STATE_FILE, weights_only=False)
    assert state["trainer"]["epoch"] == 1


def test_overflowed_gradients_skip_the_step(minilm_tokenizer, tmp_path):
    trainer, (docs, segments) = make_trainer(minilm_tokenizer, tmp_path, [], max_epochs=1)
    weight = trainer.model.span_head.out.weight
    handle = weight.register_hook(lambda grad: grad * float("inf"))
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    state = trainer.fit(segments, docs, segments)
    handle.remove()
    assert state.skipped_steps == state.global_step == 2
    for name, parameter in trainer.model.named_parameters():
        torch.testing.assert_close(parameter.detach(), before[name], msg=name)


def test_sigterm_saves_a_resumable_state(minilm_tokenizer, tmp_path, monkeypatch):
    trainer, (docs, segments) = make_trainer(minilm_tokenizer, tmp_path, [])
    step = trainer._train_step

    def step_then_signal(batch):
        losses = step(batch)
        if trainer.state.global_step == 2:  # the first step of epoch 2 is running
            os.kill(os.getpid(), signal.SIGTERM)
        return losses

    monkeypatch.setattr(trainer, "_train_step", step_then_signal)
    with pytest.raises(TrainingInterrupted, match="epoch 2, step 1") as info:
        trainer.fit(segments, docs, segments)
    assert info.value.exit_code == 130
    saved = torch.load(tmp_path / STATE_FILE, weights_only=False)["trainer"]
    assert (saved["epoch"], saved["step_in_epoch"], saved["global_step"]) == (1, 1, 3)
    # The signal handlers are restored after fit().
    assert signal.getsignal(signal.SIGTERM) is not trainer._handle_signal


def test_bf16_autocast_trains_on_cpu(minilm_tokenizer, tmp_path):
    trainer, (docs, segments) = make_trainer(minilm_tokenizer, tmp_path, [], max_epochs=1)
    trainer.precision = Precision("bf16", torch.device("cpu"))
    before = trainer.model.span_head.out.weight.detach().clone()
    state = trainer.fit(segments, docs, segments)
    assert state.skipped_steps == 0 and state.global_step == 2
    assert all(h["train_loss"] > 0 for h in state.history)
    assert all(h["seconds"] > 0 for h in state.history)  # each epoch's wall time
    assert not torch.equal(before, trainer.model.span_head.out.weight.detach())
    assert trainer.model.span_head.out.weight.dtype == torch.float32  # master weights stay fp32


def test_schedules_per_part():
    """The encoder and the heads each follow their own schedule (ADE: constant / linear)."""
    from iter.training.optim import build_scheduler

    encoder = torch.nn.Parameter(torch.zeros(2, 2))
    heads = torch.nn.Parameter(torch.zeros(2, 2))
    optimizer = torch.optim.AdamW(
        [{"params": [encoder], "lr": 1.0, "part": "encoder"},
         {"params": [heads], "lr": 1.0, "part": "heads"}]
    )  # fmt: skip
    scheduler = build_scheduler(optimizer, 100, 0.1, 0.0, "constant", "linear")
    rates = []
    for _ in range(100):
        rates.append(scheduler.get_last_lr())
        optimizer.step()
        scheduler.step()
    encoder_rates, head_rates = zip(*rates, strict=True)
    assert encoder_rates[0] == pytest.approx(0.1) and encoder_rates[9] == pytest.approx(1.0)
    assert set(encoder_rates[10:]) == {1.0}  # constant after the 10% warm-up
    assert head_rates[0] == 1.0 and head_rates[50] == pytest.approx(0.5)  # no warm-up, linear
    assert head_rates[99] == pytest.approx(0.01)


def test_dev_curves_are_logged_in_the_datasets_average(minilm_tokenizer, tmp_path):
    """ADE is scored macro: its logged dev curves are macro too, not micro."""
    from iter.evaluation import evaluate
    from iter.training.loggers import NullLogger

    class Recorder(NullLogger):
        def __init__(self) -> None:
            self.logged: list[dict] = []

        def log(self, values, step=None) -> None:
            self.logged.append(dict(values))

    gold = toy_documents()
    # One of two entity types found: micro and macro F1 differ.
    predicted = [doc.with_annotations(
        tuple(e for e in doc.entities if e.type == "Peop"), ()) for doc in gold]  # fmt: skip
    result = evaluate(gold, predicted)
    assert result.ner.macro_f1 != result.ner.micro.f1
    for average in ("micro", "macro"):
        trainer, _ = make_trainer(minilm_tokenizer, tmp_path, [], metric_average=average)
        trainer.log = Recorder()
        trainer._log_epoch(result, 0.5, {"loss": 1.0})
        (row,) = trainer.log.logged
        assert row["dev/ner_f1"] == pytest.approx(result.ner.f1(average))


def test_step_logs_read_learning_rates_by_group_name(minilm_tokenizer, tmp_path):
    from iter.training.loggers import NullLogger
    from iter.training.optim import current_lr

    class Recorder(NullLogger):
        def __init__(self) -> None:
            self.logged: list[dict] = []

        def log(self, values, step=None) -> None:
            self.logged.append(dict(values))

    trainer, (docs, segments) = make_trainer(
        minilm_tokenizer, tmp_path, [], encoder_lr=1e-4, head_lr=1e-3, log_every_n_steps=1
    )
    names = [group["name"] for group in trainer.optimizer.param_groups]
    assert names == ["encoder", "encoder_no_decay", "heads", "heads_no_decay"]
    trainer.log = Recorder()
    trainer.fit(segments, docs, segments)
    steps = [row for row in trainer.log.logged if "train/lr_encoder" in row]
    assert len(steps) == trainer.state.global_step == 4
    # No warm-up, linear decay over 4 steps: 3/4 of each part's rate after the first step.
    assert steps[0]["train/lr_encoder"] == pytest.approx(0.75e-4)
    assert steps[0]["train/lr_heads"] == pytest.approx(0.75e-3)
    last = trainer.scheduler.get_last_lr()
    assert current_lr(trainer.scheduler, "encoder") == last[0]
    assert current_lr(trainer.scheduler, "heads") == last[2]
