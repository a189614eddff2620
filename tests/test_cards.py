"""Model cards: Hugging Face metadata the hub can read back (a model-index with the F1s), and
prose whose every claim is true of the run (package, runs, device, metric, split)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from huggingface_hub import ModelCard, ModelCardData
from omegaconf import OmegaConf

import iter.cards as cards
from iter.cards import (
    PLACEHOLDER,
    CardValues,
    card_details,
    card_values,
    render_card,
    template_text,
)
from iter.tasks import TASKS

VALUES = CardValues(
    dataset="conll04",
    model_name="minilm",
    base_model="sentence-transformers/all-MiniLM-L6-v2",
    model_class="ITERForRelationExtraction",
    tasks=TASKS,
    f1={"ner": 0.8512, "re": 0.6234, "re_plus": 0.6123},
    split="test",
    score=0.6123,
    score_name="RE+ micro F1",
    seed=3,
    torch_version="2.13.0",
    cuda="none",
    precision="bf16",
    device="NVIDIA H100",
)
ENV = {
    "torch": "2.13.0",
    "cuda": "none",
    "gpu": None,
    "torch_threads": 4,
    "git_commit": "abc123",
    "git_dirty": True,
    "transformers": "5.0",
    "python": "3.11",
}


def scores(ner: float, re_: float, re_plus: float) -> dict:
    """An EvaluationResult.to_dict() as card_values reads it."""
    return {
        task: {"micro": {"precision": 0.5, "recall": 0.25, "f1": f1}, "macro": {"f1": f1 / 2}}
        for task, f1 in zip(TASKS, (ner, re_, re_plus), strict=True)
    }


def a_runs_values(relation_types=("Work_For",), selection="re_plus", env=ENV, **kwargs):
    cfg = OmegaConf.create(
        {"seed": 3, "trainer": {"precision": "fp32"},
         "model": {"transformer": "minilm", "name": "minilm"}}
    )  # fmt: skip
    spec = SimpleNamespace(
        name="conll04",
        relation_types=relation_types,
        selection_metric=selection,
        metric_average="micro",
    )

    class ITERForRelationExtraction:  # only its class name goes on the card
        pass

    return card_values(
        cfg, spec, ITERForRelationExtraction(), scores(0.8, 0.6, 0.55), "test", env, **kwargs
    )


def loaded(card: str, tmp_path) -> ModelCard:
    """The card as the hub reads it: parsed from a README.md on disk."""
    path = tmp_path / "README.md"
    path.write_text(card, encoding="utf-8")
    return ModelCard.load(path)


def test_template_placeholders_are_the_documented_ones():
    text = template_text()
    assert set(PLACEHOLDER.findall(text)) == set(VALUES.placeholders())
    # The template's explanatory comment is no part of a card, nor is a YAML header of its own.
    assert "<!--" not in text and not text.startswith("---")


def test_render_fills_everything():
    card = render_card(VALUES, "### This run\n\nextra")
    assert not PLACEHOLDER.search(card)
    assert "- Seed: `3`" in card and "- Device: `NVIDIA H100`" in card
    assert "from iter import ITERForRelationExtraction" in card
    assert 'ITERForRelationExtraction.from_pretrained("path/to/checkpoint-best")' in card
    assert "--transformer sentence-transformers/all-MiniLM-L6-v2 --use_bfloat16 --seed 3" in card
    assert "PyTorch `2.13.0` with CUDA `none` and precision `bf16`" in card
    assert "Its RE+ micro F1 on the test split of `conll04` is `61.23`." in card
    bibtex = re.search(r"@inproceedings(\{.*?\n\})", card, re.S)
    assert bibtex and bibtex.group(1).startswith("{hennen-etal-2024-iter,")
    assert card.rstrip().endswith("extra")


def test_the_card_is_installable_and_claims_nothing_of_the_authors_runs():
    card = render_card(VALUES)
    assert "pip install iter-ie" in card and "pip install git+" not in card
    assert "library_name: iter-ie" in card and "library_name: transformers" not in card
    assert "5 training runs" not in card and "GPU: `1" not in card
    assert "This checkpoint comes from a single training run" in card
    assert "The paper's authors published checkpoints" in card


def test_model_index_is_valid_and_round_trips(tmp_path):
    card = loaded(render_card(VALUES), tmp_path)
    data = card.data
    assert data.library_name == "iter-ie" and data.license == "apache-2.0"
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert {"iter", "named-entity-recognition", "relation-extraction"} <= set(data.tags)
    assert data.model_name == "iter-conll04-minilm"
    got = {r.metric_name: r.metric_value for r in data.eval_results}
    assert got == {"NER micro F1": 85.12, "RE micro F1": 62.34, "RE+ micro F1": 61.23}
    for result in data.eval_results:
        assert result.metric_type == "f1" and result.dataset_split == "test"
        assert result.dataset_name == result.dataset_type == "conll04"
    tasks = {r.metric_name: r.task_type for r in data.eval_results}
    assert tasks["NER micro F1"] == "named-entity-recognition"
    assert tasks["RE micro F1"] == tasks["RE+ micro F1"] == "relation-extraction"
    # The raw YAML builds the same metadata (the hub parses the model-index the same way).
    again = ModelCardData(**data.to_dict())
    assert again.eval_results == data.eval_results
    (tmp_path / "again").mkdir()
    assert loaded(str(card), tmp_path / "again").data.eval_results == data.eval_results


def test_missing_value_is_an_error(monkeypatch):
    monkeypatch.setattr(cards, "template_text", lambda: "{seed} and {nope}")
    with pytest.raises(KeyError, match="nope"):
        render_card(VALUES)


def test_a_runs_values_and_details_fill_the_template(tmp_path):
    values = a_runs_values()
    assert values.device == "CPU (4 threads)" and values.runs == 1
    assert values.f1 == {"ner": 0.8, "re": 0.6, "re_plus": 0.55} and values.score == 0.55
    details = card_details("python3 train.py seed=3", ENV, scores(1 / 3, 0, 0), None, 2)
    assert "Checkpoint from epoch 2; git commit `abc123` (uncommitted changes)" in details
    assert "| NER (micro) | 50.00 | 25.00 | 33.33 |" in details and "| test |" not in details
    card = render_card(values, details)
    assert not PLACEHOLDER.search(card) and "python3 train.py seed=3" in card
    assert "- Device: `CPU (4 threads)`" in card and "GPU:" not in card
    assert "Its RE+ micro F1 on the test split of `conll04` is `55.00`." in card
    assert [r.metric_value for r in loaded(card, tmp_path).data.eval_results] == [80, 60, 55]


def test_the_device_and_the_number_of_runs_are_stated_as_they_were():
    assert cards.device_line({**ENV, "gpu": "NVIDIA H100"}) == "NVIDIA H100"
    assert cards.device_line({**ENV, "gpu": "NVIDIA H100", "world_size": 2}) == "2 × NVIDIA H100"
    assert cards.device_line({**ENV, "world_size": 2}) == "CPU (2 processes, 4 threads each)"
    assert cards.device_line({**ENV, "torch_threads": 1}) == "CPU (1 thread)"
    single = render_card(a_runs_values())
    assert "single training run: the epoch with the best dev RE+ micro F1." in single
    assert "chosen from" not in single
    swept = render_card(a_runs_values(runs=5))
    assert "This checkpoint was chosen from 5 training runs" in swept
    assert "single training run" not in swept


def test_an_entity_only_dataset_reports_ner_only(tmp_path):
    values = a_runs_values(relation_types=(), selection="ner")
    assert values.tasks == ("ner",) and values.score_name == "NER micro F1"
    details = card_details("train.py", ENV, scores(0.5, 0, 0), None, 1, values.tasks)
    assert "| NER (micro)" in details and "RE" not in details
    data = loaded(render_card(values, details), tmp_path).data
    assert [(r.metric_name, r.task_type) for r in data.eval_results] == [
        ("NER micro F1", "named-entity-recognition")
    ]
    assert "relation-extraction" not in data.tags


def test_a_card_written_before_test_names_the_dev_split(tmp_path):
    values = a_runs_values()
    dev = CardValues(**{**vars(values), "split": "dev"})
    card = render_card(dev)
    assert "Its RE+ micro F1 on the dev split of `conll04` is `55.00`." in card
    results = loaded(card, tmp_path).data.eval_results
    assert {r.dataset_split for r in results} == {"dev"}
    assert [r.metric_name for r in results] == [
        "NER micro F1 (dev)", "RE micro F1 (dev)", "RE+ micro F1 (dev)"
    ]  # fmt: skip


def test_a_local_encoder_is_no_base_model(tmp_path):
    values = CardValues(**{**vars(VALUES), "base_model": str(tmp_path)})
    data = loaded(render_card(values), tmp_path).data
    assert data.base_model is None and data.eval_results


def test_an_api_runs_call_is_shown_as_python_and_a_command_line_as_shell(tmp_path):
    call = "iter.train(dataset='conll04', seed=3, trainer={'max_epochs': 3})"
    details = card_details(call, ENV, scores(0.5, 0.4, 0.3), None, 2)
    assert f"```python\nimport iter\n\n{call}\n```" in details and "```shell" not in details
    card = render_card(a_runs_values(), details)
    assert f"import iter\n\n{call}" in card and loaded(card, tmp_path).data.eval_results
    for command in ("iter train --dataset conll04 --seed 3", "python3 train.py seed=3"):
        shown = card_details(command, ENV, scores(0.5, 0.4, 0.3), None, 2)
        assert f"```shell\n{command}\n```" in shown and "```python" not in shown


def test_a_sweep_restates_a_card_and_gives_it_back(tmp_path):
    single = render_card(a_runs_values(), card_details("train.py", ENV, None, None, 2))
    section = cards.sweep_section(
        ["seed1", "seed2"], "seed2", ("ner",), {"ner": (0.5, 0.01)}, "micro"
    )
    swept = cards.card_for_sweep(single, 2, "RE+ micro F1", section)
    assert "This checkpoint was chosen from 2 training runs" in swept
    assert swept.rstrip().endswith("| NER (micro) | 50.00 ± 1.00 |")
    assert loaded(swept, tmp_path).data.eval_results == loaded(single, tmp_path).data.eval_results
    assert cards.card_for_sweep(swept, 2, "RE+ micro F1", section) == swept
    assert cards.card_for_sweep(swept, 1, "RE+ micro F1") == single
    with pytest.raises(ValueError, match="does not say how its checkpoint was chosen"):
        cards.card_for_sweep("---\nlicense: mit\n---\n# Someone's own card\n", 2, "F1")
