"""Bad input through the commands users run: train.py, evaluate.py and ``iter predict``.

Each case asserts the exit code, a message that names what is wrong (file, document, field,
flag or folder), that no traceback reaches the user, and that nothing half-written is left
behind. docs/bad-input.md lists every case with what the user sees.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from iter.training.checkpoint import save_checkpoint
from tests.conftest import REPO, tiny_model

pytestmark = pytest.mark.slow

CONFIG_ERROR = 2  # IterError.exit_code


def run(args: list[str], env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_clean_failure(result: subprocess.CompletedProcess, code: int, *phrases: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == code, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr[-3000:]


@pytest.fixture
def small_conll04(tmp_path, shared_datasets) -> Path:
    """A data folder with the first documents of each CoNLL04 split."""
    root = tmp_path / "data"
    (root / "conll04").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        documents = json.loads((shared_datasets / "conll04" / f"{split}.json").read_text())
        (root / "conll04" / f"{split}.json").write_text(json.dumps(documents[:8]))
    return root


@pytest.fixture
def env(tmp_path, small_conll04) -> dict:
    return {
        **os.environ,
        "ITER_DATA_DIR": str(small_conll04),
        "ITER_OUTPUT_DIR": str(tmp_path / "outputs"),
        "ITER_CACHE_DIR": str(tmp_path / "cache"),
        "WANDB_MODE": "disabled",
    }


def checkpoints_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("checkpoint-best")) + sorted(folder.rglob(".checkpoint-best.tmp-*"))


def run_folders_under(outputs: Path) -> list[Path]:
    """The run folders train.py made: outputs/runs/<dataset>/<model>/seed<N>-<time>."""
    return sorted((outputs / "runs").glob("*/*/*"))


# ----------------------------------------------------------------------------- train.py configs
CUDA = torch.cuda.is_available()


@pytest.mark.parametrize(
    ("args", "code", "phrases"),
    [
        (["dataset=nope"], CONFIG_ERROR, ["Could not find 'dataset/nope'", "conll04"]),
        (["--dataset", "nope"], CONFIG_ERROR, ["Could not find 'dataset/nope'"]),
        (["trainer.foo=1"], CONFIG_ERROR, ["Could not override 'trainer.foo'"]),
        (["+model.dropuot=0.1"], CONFIG_ERROR,
         ["model.dropuot: not a setting of model; did you mean model.dropout?"]),
        (["--seed"], CONFIG_ERROR, ["--seed needs a value"]),
        (["seed=abc"], CONFIG_ERROR, ["seed: expected an integer, got 'abc'"]),
        (["seed=-1"], CONFIG_ERROR, ["seed: must be a non-negative integer, got -1"]),
        (["--transformer", "/no/such/encoder"], CONFIG_ERROR,
         ["encoder '/no/such/encoder': no such folder"]),
        (["trainer.precision=fp64"], CONFIG_ERROR, ["'fp64' is not one of fp32, bf16, fp16"]),
        (["trainer.batch_size=0"], CONFIG_ERROR, ["trainer.batch_size must be >= 1, got 0"]),
        (["trainer.batch_size=true"], CONFIG_ERROR,
         ["trainer.batch_size: expected an integer, got True"]),
        (["trainer.device=gpu"], CONFIG_ERROR, ["trainer.device: 'gpu' is not auto, cpu"]),
        (["trainer.ema_decay=1.5"], CONFIG_ERROR,
         ["trainer.ema_decay must be in (0, 1) or null, got 1.5"]),
        (["trainer.head_lr=0"], CONFIG_ERROR, ["trainer.head_lr must be > 0"]),
        (["trainer.mention_replacement=1.5"], CONFIG_ERROR,
         ["trainer.mention_replacement is a probability, in [0, 1]; got 1.5"]),
        (["model.layer_mix=sum"], CONFIG_ERROR,
         ["model.layer_mix must be one of last, scalar; got 'sum'"]),
        (["experiment=conll04_final", "trainer.tune_link_threshold=true"], CONFIG_ERROR,
         ["trainer.tune_link_threshold: the dev split 'dev' is also trained on"]),
        (["trainer.encoder_warmup=2"], CONFIG_ERROR, ["fraction of all steps, in [0, 1]"]),
        (["trainer.head_schedule=cosine"], CONFIG_ERROR,
         ["trainer.head_schedule must be one of linear, constant; got 'cosine'"]),
        (["model.span_objective=crf"], CONFIG_ERROR,
         ["model.span_objective must be one of softmax, sigmoid; got 'crf'"]),
        (["model.link_pairs=all"], CONFIG_ERROR, ["model.link_pairs must be one of dense, gold"]),
        (["model.loss_reduction=max"], CONFIG_ERROR,
         ["model.loss_reduction must be one of sum, batch, mean"]),
        (["model.d_ff=-1"], CONFIG_ERROR,
         ["model.d_ff must be a width >= 1, or 0 for the encoder's own; got -1"]),
        (["model.dropout=abc"], CONFIG_ERROR, ["model.dropout: expected a number, got 'abc'"]),
        (["model.dropout=1.5"], CONFIG_ERROR,
         ["model.dropout must be a number in [0, 1); got 1.5"]),
        (["model.activation=swishy"], CONFIG_ERROR, ["model.activation 'swishy' is unknown"]),
        pytest.param(["trainer.precision=fp16"], CONFIG_ERROR, ["fp16 needs a CUDA device"],
                     marks=pytest.mark.skipif(CUDA, reason="fp16 is valid with CUDA")),
        pytest.param(["trainer.device=cuda"], CONFIG_ERROR, ["CUDA is not available"],
                     marks=pytest.mark.skipif(CUDA, reason="CUDA is available")),
    ],
)  # fmt: skip
def test_bad_training_config(args, code, phrases, env, tmp_path):
    result = run(["train.py", *args, "logger=none", "trainer.max_epochs=1"], env)
    assert_clean_failure(result, code, *phrases)
    assert checkpoints_under(tmp_path / "outputs") == []


def test_bad_config_stops_before_hydra_makes_a_run_folder(env, tmp_path):
    result = run(["train.py", "model.d_ff=-1", "logger=none"], env)
    assert_clean_failure(result, CONFIG_ERROR, "model.d_ff must be a width")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "outputs").exists()


def test_a_sweep_with_one_bad_job_starts_none(env, tmp_path):
    # The second job's value is wrong: no job may start (or be queued) before it is found.
    result = run(["train.py", "-m", "seed=1,2", "model.dropout=0.1,1.5", "logger=none"], env)
    assert_clean_failure(result, CONFIG_ERROR, "model.dropout must be a number in [0, 1)")
    assert "sweep job" in result.stderr
    assert not list((tmp_path / "outputs").rglob("config.yaml"))


def test_encoder_folder_without_a_model(env, tmp_path):
    folder = tmp_path / "not-an-encoder"
    folder.mkdir()
    result = run(["train.py", "--transformer", str(folder), "logger=none"], env)
    assert_clean_failure(result, CONFIG_ERROR, f"encoder folder '{folder}' has no config.json")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert run_folders_under(tmp_path / "outputs") == []  # the failed run's folder is gone


# ----------------------------------------------------------------------------- train.py data
def corrupt(documents: list[dict], case: str) -> bytes:
    doc = documents[2]
    if case == "truncated JSON":
        return json.dumps(documents).encode()[:-40]
    if case == "non-UTF-8 bytes":
        doc["tokens"][0] = "caf\udce9"  # a lone Latin-1 byte once encoded
        return json.dumps(documents, ensure_ascii=False).encode("utf-8", "surrogateescape")
    if case == "tokens not a list":
        doc["tokens"] = " ".join(doc["tokens"])
    elif case == "start not an integer":
        doc["entities"][0]["start"] = "0"
    elif case == "negative offset":
        doc["entities"][0]["start"] = -3
    elif case == "end past the sentence":
        doc["entities"][0]["end"] = len(doc["tokens"]) + 5
    elif case == "end not after start":
        doc["entities"][0]["end"] = doc["entities"][0]["start"]
    elif case == "overlap in a flat dataset":
        first = doc["entities"][0]
        doc["entities"].append({"type": "Org", "start": first["start"], "end": first["end"] + 1})
    elif case == "unknown entity type":
        doc["entities"][0]["type"] = "Alien"
    elif case == "missing relations field":
        del doc["relations"]
    elif case == "relation to a missing entity":
        doc["relations"].append({"type": "Kill", "head": 0, "tail": 99})
    elif case == "self-relation":
        doc["relations"].append({"type": "Kill", "head": 0, "tail": 0})
    elif case == "unknown relation type":
        doc["relations"].append({"type": "Loves", "head": 0, "tail": 1})
    elif case == "empty document":
        doc.update(tokens=[], entities=[], relations=[])
    else:
        raise ValueError(case)
    return json.dumps(documents).encode()


DATA_CASES = {
    "truncated JSON": "not valid JSON",
    "non-UTF-8 bytes": "not valid UTF-8",
    "tokens not a list": "document 2, field 'tokens'",
    "start not an integer": "document 2, field 'entities[0].start': expected an integer",
    "negative offset": "document 2, field 'entities[0]'",
    "end past the sentence": "out of range for",
    "end not after start": "must be greater than start",
    "overlap in a flat dataset": "but this dataset is flat",
    "unknown entity type": "unknown entity type 'Alien'",
    "missing relations field": "document 2, field 'relations'",
    "relation to a missing entity": "points at entity 99",
    "self-relation": "self-relation",
    "unknown relation type": "unknown relation type 'Loves'",
    "empty document": "document 2, field 'tokens': empty document",
}


@pytest.mark.parametrize("case", DATA_CASES)
def test_malformed_dataset_file(case, env, small_conll04, tmp_path):
    dev = small_conll04 / "conll04" / "dev.json"
    dev.write_bytes(corrupt(json.loads(dev.read_text()), case))
    result = run(["train.py", "logger=none", "trainer.max_epochs=1"], env)
    assert_clean_failure(result, CONFIG_ERROR, str(dev), DATA_CASES[case])
    assert checkpoints_under(tmp_path / "outputs") == []
    # Hydra made the run's folder before the data was read; nothing of a run is in it.
    assert run_folders_under(tmp_path / "outputs") == []


def test_missing_dataset_file(env, small_conll04, tmp_path):
    (small_conll04 / "conll04" / "test.json").unlink()
    result = run(["train.py", "logger=none"], env)
    assert_clean_failure(result, CONFIG_ERROR, "conll04/test.json", "file not found")
    assert run_folders_under(tmp_path / "outputs") == []


# ----------------------------------------------------------------------------- evaluate.py
@pytest.fixture
def saved_checkpoint(tmp_path, minilm_tokenizer) -> Path:
    folder = tmp_path / "checkpoint"
    model = tiny_model(minilm_tokenizer)
    model.config.dataset = "conll04"
    model.save_pretrained(folder)
    return folder


def damage(folder: Path, case: str) -> list[str]:
    """Break the checkpoint; returns extra evaluate.py arguments for the case."""
    if case == "missing folder":
        shutil.rmtree(folder)
    elif case == "no config.json":
        (folder / "config.json").unlink()
    elif case == "config.json not JSON":
        (folder / "config.json").write_text('{"model_type": "iter", ')
    elif case == "not an ITER model":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(config | {"model_type": "bert"}))
    elif case == "no weights":
        (folder / "model.safetensors").unlink()
    elif case == "truncated weights":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    elif case == "no tokenizer":
        for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
            (folder / name).unlink(missing_ok=True)
    elif case == "types mismatch":
        return ["--dataset", "scierc"]
    elif case == "unknown split":
        return ["--split", "validation"]
    elif case == "batch size 0":
        return ["--batch_size", "0"]
    elif case == "link threshold 1":
        return ["--link_threshold", "1"]
    elif case == "threshold given and tuned":
        return ["--link_threshold", "0.3", "--tune_link_threshold"]
    elif case == "negative bootstrap":
        return ["--bootstrap", "-1"]
    elif case == "compare with nothing":
        return ["--compare", str(folder.parent / "nope.json")]
    elif case.startswith("compare with"):
        # Predictions of another split (CoNLL04's train), or of too few test documents.
        data = folder.parent / "data" / "conll04"
        split = "train" if "split" in case else "test"
        documents = json.loads((data / f"{split}.json").read_text())
        other = folder.parent / "other-predictions.json"
        other.write_text(json.dumps(documents if "split" in case else documents[:3]))
        return ["--compare", str(other)]
    else:
        raise ValueError(case)
    return []


CHECKPOINT_CASES = {
    "missing folder": "no such checkpoint folder",
    "no config.json": "config.json is missing",
    "config.json not JSON": "config.json: not valid JSON",
    "not an ITER model": "model_type is 'bert', not 'iter'",
    "no weights": "no weights (model.safetensors",
    "truncated weights": "cannot load the model",
    "no tokenizer": "no tokenizer files",
    "types mismatch": "but dataset scierc has",
    "unknown split": "split 'validation'",
    "batch size 0": "--batch_size must be >= 1",
    "link threshold 1": "--link_threshold must be in (0, 1), got 1.0",
    "threshold given and tuned": "--link_threshold and --tune_link_threshold exclude each other",
    "negative bootstrap": "--bootstrap must be >= 0 resamples, got -1",
    "compare with nothing": "nope.json: no such checkpoint folder or predictions file",
    "compare with another split": "document 0 has other words than the split's",
    "compare with fewer documents": "other-predictions.json: 3 documents, but the split has 8",
}


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_bad_checkpoint_for_evaluate(case, saved_checkpoint, env):
    extra = damage(saved_checkpoint, case)
    result = run(["evaluate.py", "--model", str(saved_checkpoint), *extra], env)
    assert_clean_failure(result, CONFIG_ERROR, CHECKPOINT_CASES[case])


# ----------------------------------------------------------------------------- iter predict
@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b'{"text": "fine"}\n{"text": \n', "line 2: not valid JSON"),
        (b'{"text": "fine"}\n{"words": ["a"]}\n', 'line 2: expected a string, {"text": str}'),
        (b"caf\xe9\n", "not valid UTF-8"),
    ],
)
def test_bad_predict_input(content, phrase, saved_checkpoint, env, tmp_path):
    source = tmp_path / ("input.jsonl" if content.startswith(b"{") else "input.txt")
    source.write_bytes(content)
    output = tmp_path / "out.jsonl"
    result = run(
        ["-m", "iter.cli.main", "predict", "--model", str(saved_checkpoint), str(source),
         "-o", str(output)],
        env,
    )  # fmt: skip
    assert_clean_failure(result, CONFIG_ERROR, str(source), phrase)
    assert not output.exists()


# ----------------------------------------------------------------------------- checkpoints
def test_failed_save_keeps_the_previous_checkpoint(minilm_tokenizer, tmp_path, monkeypatch):
    import iter.training.checkpoint as checkpoint_module

    model = tiny_model(minilm_tokenizer)
    folder = tmp_path / "checkpoint-best"
    values: dict[str, object] = {}
    monkeypatch.setattr(checkpoint_module, "render_card", lambda values, extra: "card v1")
    save_checkpoint(model, folder, values, "", {"epoch": 1})
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def disk_full(values, extra):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module, "render_card", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(model, folder, values, "", {"epoch": 2})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-best"]
