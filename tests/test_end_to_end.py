"""A real, short CoNLL04 run on the MiniLM encoder through the user-facing commands.

One training (train.py with the paper's flags, W&B offline) feeds every check: the F1 floor,
the run folder, the checkpoint and its card, evaluate.py, and the card's own code snippet.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from huggingface_hub import ModelCard

from iter.tasks import TASK_LABELS, TASKS
from tests.conftest import REPO

pytestmark = pytest.mark.slow

EPOCHS = 3
# Seen on a 2-core CPU after 3 epochs (seed 1, MiniLM's default with the link context):
# test NER 75.8, RE+ 44.4; the published model without it reached 77.1 / 41.9 (1 thread),
# the earlier objective 74.7 / 21.1. The floors leave room for other float kernels; a model
# that has not learned scores 0 on both.
NER_FLOOR = 0.70
RE_PLUS_FLOOR = 0.38


def run(args: list[str], env: dict, timeout: int = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, shared_datasets):
    out = tmp_path_factory.mktemp("e2e")
    env = {
        **os.environ,
        "ITER_OUTPUT_DIR": str(out / "outputs"),
        "ITER_DATA_DIR": str(shared_datasets),
        "WANDB_MODE": "offline",
    }
    result = run(
        ["train.py", "--dataset", "conll04", "--seed", "1", f"trainer.max_epochs={EPOCHS}"], env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (out / "outputs" / "runs" / "conll04" / "minilm").iterdir()
    return run_dir, env, result


def test_training_beats_the_f1_floor(trained_run):
    run_dir, _, result = trained_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["scores"]
    assert test["ner"]["micro"]["f1"] >= NER_FLOOR
    assert test["re_plus"]["micro"]["f1"] >= RE_PLUS_FLOOR
    assert metrics["test_score"] == pytest.approx(test["re_plus"]["micro"]["f1"])
    assert len(metrics["history"]) == EPOCHS
    assert 1 <= metrics["best_epoch"] <= EPOCHS
    assert "RE+ (strict)" in result.stdout  # the test table is printed


def test_run_folder_records_config_environment_and_wandb(trained_run):
    run_dir, _, _ = trained_run
    config = (run_dir / "config.yaml").read_text()
    assert "name: conll04" in config and "seed: 1" in config
    environment = json.loads((run_dir / "environment.json").read_text())
    assert environment["seed"] == 1 and environment["torch"]
    assert "git_commit" in environment and "git_dirty" in environment
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "RE+ (strict)" in (run_dir / "train.log").read_text()  # the final test table
    assert not (run_dir / "training_state.pt").exists()  # a finished run needs no resume state
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert offline_runs, "W&B offline run folder missing"
    assert list(offline_runs[0].glob("*.wandb")), "no W&B log to sync"


def test_run_folder_keeps_the_selected_checkpoints_predictions(trained_run, shared_datasets):
    """predictions-{dev,test}.json hold what the selected checkpoint predicted: scored
    against the gold split they give metrics.json's scores back."""
    from iter.data.reader import read_documents
    from iter.data.registry import load_dataset_spec
    from iter.evaluation import evaluate

    run_dir, _, _ = trained_run
    spec = load_dataset_spec("conll04", [f"dataset.data_dir={shared_datasets / 'conll04'}"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for split, scores in (("test", metrics["scores"]), ("dev", metrics["dev"])):
        predicted = read_documents(run_dir / f"predictions-{split}.json")
        result = evaluate(spec.read(split), predicted, spec.symmetric_relation_types,
                          spec.entity_types, spec.relation_types)  # fmt: skip
        assert result.to_dict() == scores


def test_checkpoint_carries_a_complete_model_card(trained_run):
    run_dir, _, _ = trained_run
    checkpoint = run_dir / "checkpoint-best"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md"):
        assert (checkpoint / name).is_file(), name
    card = (checkpoint / "README.md").read_text()
    assert not re.search(r"\{[a-z_][a-z0-9_.]*\}", card), "unfilled placeholder"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # The hub's reading of the card gives the run's test scores back.
    data = ModelCard.load(checkpoint / "README.md").data
    assert data.library_name == "iter-ie"
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    got = {(r.metric_name, r.dataset_split): r.metric_value for r in data.eval_results}
    assert got == {
        (f"{TASK_LABELS[task]} micro F1", "test"): round(
            100 * metrics["scores"][task]["micro"]["f1"], 2
        )
        for task in TASKS
    }
    assert f"is `{100 * metrics['test_score']:.2f}`" in card
    assert "single training run" in card and "5 training runs" not in card
    assert "Seed: `1`" in card and "precision `fp32`" in card
    assert "python3 train.py --dataset conll04 --transformer sentence-transformers" in card
    assert "Exact command" in card and "trainer.max_epochs=3" in card


def test_evaluate_py_reproduces_the_test_score(trained_run, tmp_path):
    run_dir, env, _ = trained_run
    output = tmp_path / "eval.json"
    result = run(
        ["evaluate.py", "--model", str(run_dir / "checkpoint-best"), "--split", "test",
         "--output", str(output)],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    evaluated = json.loads(output.read_text())["scores"]
    trained = json.loads((run_dir / "metrics.json").read_text())["scores"]
    assert evaluated["re_plus"]["micro"] == trained["re_plus"]["micro"]
    assert evaluated["ner"]["micro"] == trained["ner"]["micro"]
    assert "NER" in result.stdout


def test_evaluate_py_tunes_the_link_threshold_on_dev(trained_run, tmp_path):
    """--tune_link_threshold chooses on dev and scores test with the choice, as
    --link_threshold with that value does; the checkpoint is left as it was."""
    run_dir, env, _ = trained_run
    checkpoint = run_dir / "checkpoint-best"
    config_before = (checkpoint / "config.json").read_text()
    tuned, fixed = tmp_path / "tuned.json", tmp_path / "fixed.json"
    result = run(
        ["evaluate.py", "--model", str(checkpoint), "--tune_link_threshold", "--output",
         str(tuned)],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "link threshold on conll04/dev (re_plus micro F1)" in result.stdout
    report = json.loads(tuned.read_text())
    chosen = report["link_threshold_search"]["threshold"]
    assert report["link_threshold"] == chosen
    result = run(
        ["evaluate.py", "--model", str(checkpoint), "--link_threshold", str(chosen),
         "--output", str(fixed)],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(fixed.read_text())["scores"] == report["scores"]
    assert (checkpoint / "config.json").read_text() == config_before


def test_evaluate_py_bootstraps_and_compares_two_predictions(trained_run, tmp_path):
    """--bootstrap gives intervals around the scores; --compare gives the paired difference
    to another model's predictions, here the same checkpoint with a strict link threshold."""
    run_dir, env, _ = trained_run
    checkpoint = run_dir / "checkpoint-best"
    strict, strict_metrics = tmp_path / "strict-predictions.json", tmp_path / "strict.json"
    result = run(
        ["evaluate.py", "--model", str(checkpoint), "--link_threshold", "0.97",
         "--predictions", str(strict), "--output", str(strict_metrics)],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    compared = tmp_path / "compared.json"
    result = run(
        ["evaluate.py", "--model", str(checkpoint), "--bootstrap", "300", "--compare",
         str(strict), "--output", str(compared)],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Bootstrap: 300 resamples" in result.stdout and "B - A" in result.stdout
    report = json.loads(compared.read_text())
    for interval in report["bootstrap"]["intervals"]:
        f1 = report["percentages"][interval["task"]][interval["average"]]["f1"]
        assert interval["f1"] == pytest.approx(f1, abs=0.01)
        assert interval["low"] <= f1 <= interval["high"] and interval["low"] < interval["high"]
    differences = {(d["task"], d["average"]): d for d in report["comparison"]["differences"]}
    # The link threshold leaves the entities as they were: no NER difference at all.
    assert differences["ner", "micro"]["delta"] == 0 and differences["ner", "micro"]["p_value"] == 1
    re_plus = differences["re_plus", "micro"]
    assert re_plus["a"] == report["percentages"]["re_plus"]["micro"]["f1"]
    strict_f1 = json.loads(strict_metrics.read_text())["percentages"]["re_plus"]["micro"]["f1"]
    assert re_plus["b"] == strict_f1 and re_plus["low"] <= re_plus["delta"] <= re_plus["high"]
    # A checkpoint folder compares too: itself, so every difference is 0.
    result = run(
        ["evaluate.py", "--model", str(checkpoint), "--compare", str(checkpoint), "--bootstrap",
         "50", "--output", str(tmp_path / "self.json")],
        env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    itself = json.loads((tmp_path / "self.json").read_text())["comparison"]["differences"]
    assert {d["delta"] for d in itself} == {0} and {d["p_value"] for d in itself} == {1}


def test_model_card_snippet_runs_on_the_checkpoint(trained_run):
    run_dir, env, _ = trained_run
    checkpoint = run_dir / "checkpoint-best"
    card = (checkpoint / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    hub_name = re.search(r'from_pretrained\("([^"]+)"\)', snippet).group(1)
    snippet = snippet.replace(hub_name, str(checkpoint))  # no hub here: the local folder
    result = run(["-c", snippet], env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Entity(" in result.stdout  # the trained model finds entities in the card sentence
    assert "Link(" in result.stdout or "[[]]" in result.stdout
