"""Model cards: every placeholder of the spec's template is filled, or rendering fails."""

from __future__ import annotations

import re

import pytest

from iter.cards import PLACEHOLDER, render_card, template_text

VALUES = {
    "base_model_name": "sentence-transformers/all-MiniLM-L6-v2",
    "dataset": "conll04",
    "model_name": "minilm",
    "f1": "61.23",
    "model_class": "ITERForRelationExtraction",
    "seed": 3,
    "config": "conll04",
    "torch.version": "2.13.0",
    "torch.cuda": "none",
    "torch.precision": "bf16",
    "gpu": "NVIDIA H100",
    "precision_command": " --use_bfloat16",
}


def test_template_placeholders_are_the_documented_ones():
    assert set(PLACEHOLDER.findall(template_text())) == {*VALUES, "citation"}


def test_render_fills_everything():
    card = render_card(VALUES, "### This run\n\nextra")
    assert not PLACEHOLDER.search(card)
    assert "value: 61.23" in card and "- Seed: `3`" in card
    assert "from iter import ITERForRelationExtraction" in card
    assert 'ITERForRelationExtraction.from_pretrained("fleonce/iter-conll04-minilm")' in card
    assert "--transformer sentence-transformers/all-MiniLM-L6-v2 --use_bfloat16 --seed 3" in card
    assert "PyTorch `2.13.0` with CUDA `none` and precision `bf16`" in card
    bibtex = re.search(r"@inproceedings(\{.*?\n\})", card, re.S)
    assert bibtex and bibtex.group(1).startswith("{hennen-etal-2024-iter,")
    assert card.rstrip().endswith("extra")


def test_missing_value_is_an_error():
    values = dict(VALUES)
    del values["seed"]
    with pytest.raises(KeyError, match="seed"):
        render_card(values)


def test_a_runs_values_and_details_fill_the_template():
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from iter.cards import card_details, card_values
    from iter.tasks import TASKS

    cfg = OmegaConf.create(
        {"seed": 3, "trainer": {"precision": "bf16"},
         "model": {"transformer": "minilm", "name": "minilm"}}
    )  # fmt: skip
    env = {
        "torch": "2.13.0",
        "cuda": "none",
        "gpu": None,
        "torch_threads": 4,
        "git_commit": "abc123",
        "git_dirty": True,
        "transformers": "5.0",
        "python": "3.11",
    }

    class ITERForRelationExtraction:  # only its class name goes on the card
        pass

    spec = SimpleNamespace(name="conll04")
    values = card_values(cfg, spec, ITERForRelationExtraction(), 0.6123, env)
    assert values == {**VALUES, "gpu": "CPU (4 threads)"}
    dev = {task: {"micro": {"precision": 0.5, "recall": 0.25, "f1": 1 / 3}} for task in TASKS}
    details = card_details("python3 train.py seed=3", env, dev, None, 2)
    assert "Checkpoint from epoch 2; git commit `abc123` (uncommitted changes)" in details
    assert "| NER (micro) | 50.00 | 25.00 | 33.33 |" in details and "| test |" not in details
    card = render_card(values, details)
    assert not PLACEHOLDER.search(card) and "python3 train.py seed=3" in card
