"""The weight average (``trainer.ema_decay``): its arithmetic, and that dev scoring, the
checkpoint and a resumed run all see the averaged weights."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from iter.errors import ConfigError
from iter.training.files import STATE_FILE
from iter.training.trainer import TrainingInterrupted
from iter.training.weight_average import WeightAverage
from tests.training.test_trainer import make_trainer, settings


def linear_with(value: float) -> torch.nn.Linear:
    layer = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(value)
    return layer


def test_update_follows_the_warmed_up_decay():
    layer = linear_with(1.0)
    average = WeightAverage(layer, decay=0.9)
    with torch.no_grad():
        layer.weight.fill_(3.0)
    average.update(layer)  # decay min(0.9, 1/10) = 0.1: 0.1 * 1 + 0.9 * 3 = 2.8
    assert torch.allclose(average.shadow[0], torch.full((1, 2), 2.8))
    with torch.no_grad():
        layer.weight.fill_(0.0)
    average.update(layer)  # decay min(0.9, 2/11): 2.8 * 2/11
    assert torch.allclose(average.shadow[0], torch.full((1, 2), 2.8 * 2 / 11))
    for _ in range(100):
        average.update(layer)
    assert average.current_decay() == 0.9


def test_applied_swaps_the_average_in_and_restores_the_weights():
    layer = linear_with(1.0)
    average = WeightAverage(layer, decay=0.5)
    with torch.no_grad():
        layer.weight.fill_(5.0)
    with average.applied(layer):
        assert torch.equal(layer.weight, torch.ones(1, 2))
    assert torch.equal(layer.weight, torch.full((1, 2), 5.0))
    # Restored even when the block fails.
    with pytest.raises(RuntimeError), average.applied(layer):
        raise RuntimeError("scoring failed")
    assert torch.equal(layer.weight, torch.full((1, 2), 5.0))


def test_state_round_trip_and_a_wrong_state_is_named():
    layer = linear_with(2.0)
    average = WeightAverage(layer, decay=0.99)
    average.update(layer)
    restored = WeightAverage(linear_with(7.0), decay=0.99)
    restored.load_state_dict(average.state_dict())
    assert restored.updates == 1 and torch.equal(restored.shadow[0], average.shadow[0])
    with pytest.raises(KeyError, match="weight"):
        restored.load_state_dict({"updates": 0, "shadow": {}})
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(layer, decay=1.0)


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1])
def test_a_decay_outside_zero_one_is_a_config_error(value):
    with pytest.raises(ConfigError, match=r"trainer.ema_decay must be in \(0, 1\)"):
        settings(ema_decay=value)


def test_dev_scores_and_checkpoints_see_the_averaged_weights(minilm_tokenizer, tmp_path):
    checkpoints: list[dict[str, torch.Tensor]] = []
    trainer, (docs, segments) = make_trainer(minilm_tokenizer, tmp_path, [], ema_decay=0.5)
    trainer.on_new_best = lambda epoch, result: checkpoints.append(
        {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    )
    scored: list[dict[str, torch.Tensor]] = []
    evaluate = trainer.evaluate

    def remember_weights(*args, **kwargs):
        scored.append({k: v.detach().clone() for k, v in trainer.model.named_parameters()})
        return evaluate(*args, **kwargs)

    trainer.evaluate = remember_weights
    trainer.fit(segments, docs, segments)
    average = trainer.weight_average.state_dict()["shadow"]
    raw = dict(trainer.model.named_parameters())
    assert average and checkpoints
    name = next(n for n in average if "link" in n)
    # After training the model holds its raw weights again, which differ from the average.
    assert not torch.equal(raw[name], average[name])
    # The last dev scoring and any checkpoint saved then saw the average.
    torch.testing.assert_close(scored[-1][name], average[name])
    if trainer.state.best_epoch == trainer.state.epoch:
        torch.testing.assert_close(checkpoints[-1][name], average[name])


def test_resumed_run_keeps_its_average(minilm_tokenizer, tmp_path, monkeypatch):
    plain_dir, resumed_dir = tmp_path / "plain", tmp_path / "resumed"
    plain_dir.mkdir(), resumed_dir.mkdir()
    plain, (docs, segments) = make_trainer(minilm_tokenizer, plain_dir, [], ema_decay=0.6)
    plain.fit(segments, docs, segments)

    first, _ = make_trainer(minilm_tokenizer, resumed_dir, [], ema_decay=0.6)
    step = first._train_step

    def step_then_signal(batch):
        losses = step(batch)
        if first.state.global_step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return losses

    monkeypatch.setattr(first, "_train_step", step_then_signal)
    with pytest.raises(TrainingInterrupted):
        first.fit(segments, docs, segments)
    second, _ = make_trainer(minilm_tokenizer, resumed_dir, [], ema_decay=0.6)
    second.fit(segments, docs, segments, resume_from=resumed_dir / STATE_FILE)
    expected = plain.weight_average.state_dict()
    got = second.weight_average.state_dict()
    assert got["updates"] == expected["updates"] == 4
    for name, tensor in expected["shadow"].items():
        torch.testing.assert_close(got["shadow"][name], tensor, msg=name)

    # A state saved without an average cannot silently start one from the raw weights.
    no_average_dir = tmp_path / "none"
    no_average_dir.mkdir()
    bare, _ = make_trainer(minilm_tokenizer, no_average_dir, [])
    bare.fit(segments, docs, segments)
    again, _ = make_trainer(minilm_tokenizer, no_average_dir, [], ema_decay=0.6)
    with pytest.raises(ConfigError, match=r"without trainer\.ema_decay"):
        again.fit(segments, docs, segments, resume_from=no_average_dir / STATE_FILE)
