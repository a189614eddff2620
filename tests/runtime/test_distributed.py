"""Data-parallel training: batch sharding, and a real 2-process torchrun run on CPU (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from iter.data.document import Document
from iter.data.reader import read_documents
from iter.evaluation.runner import predict_distributed, score_model, score_predictions
from iter.runtime.distributed import DistributedContext
from tests.conftest import REPO, minilm_path, tiny_model


def test_every_rank_gets_the_same_number_of_batches_and_none_is_lost():
    batches = list(range(5))
    shards = [DistributedContext(rank, 2).shard(batches) for rank in range(2)]
    assert shards == [[0, 2, 4], [1, 3, 0]]  # topped up from the start
    assert set(shards[0]) | set(shards[1]) == set(batches)
    assert DistributedContext().shard(batches) == batches  # one process: unchanged
    assert DistributedContext(1, 3).shard([]) == []


def test_one_process_needs_no_process_group():
    context = DistributedContext()
    assert not context.enabled and context.is_main
    assert context.broadcast({"a": 1}) == {"a": 1}
    assert context.mean({"loss": 2.0}) == {"loss": 2.0}


def run_training(command: list[str], env: dict) -> dict:
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_two_process_run_writes_what_one_process_writes(tmp_path, shared_datasets):
    data = tmp_path / "data" / "conll04"
    data.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        documents = json.loads((shared_datasets / "conll04" / f"{split}.json").read_text())
        (data / f"{split}.json").write_text(json.dumps(documents[:24]))
    overrides = [
        "trainer.max_epochs=2", "trainer.limit_train_batches=4", "trainer.num_threads=1",
        "trainer.device=cpu", "logger=none",
    ]  # fmt: skip
    folders = {}
    for name, launcher in [
        ("single", [sys.executable, "train.py"]),
        ("ddp", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                 "--nproc_per_node=2", "train.py"]),
    ]:  # fmt: skip
        env = {
            **os.environ,
            "ITER_DATA_DIR": str(tmp_path / "data"),
            "ITER_OUTPUT_DIR": str(tmp_path / name),
            "ITER_CACHE_DIR": str(tmp_path / "cache"),
        }
        result = run_training([*launcher, *overrides], env)
        # Exactly one run folder, even though every rank composed its own Hydra config.
        (folders[name],) = (tmp_path / name / "runs" / "conll04" / "minilm").iterdir()
        assert result.stdout.count("run folder:") == 1  # rank 0 alone reports

    single = json.loads((folders["single"] / "metrics.json").read_text())
    ddp = json.loads((folders["ddp"] / "metrics.json").read_text())
    assert ddp.keys() == single.keys()
    assert len(ddp["history"]) == len(single["history"]) == 2
    assert ddp["history"][0].keys() == single["history"][0].keys()
    assert json.loads((folders["ddp"] / "environment.json").read_text())["world_size"] == 2
    for folder in folders.values():
        assert (folder / "checkpoint-best" / "model.safetensors").is_file()
        assert (folder / "checkpoint-best" / "README.md").is_file()
    # 24 sentences make 3 batches an epoch: one process takes 3 steps; each of two ranks takes
    # 2 (the third batch and a top-up copy of the first go to different ranks).
    steps = {
        name: json.loads((folder / "metrics.json").read_text())["optimizer_steps"]
        for name, folder in folders.items()
    }
    assert steps == {"single": 6, "ddp": 4}
    # A finished run drops its resume state (the checkpoint and metrics are what is kept).
    assert not any((folder / "training_state.pt").exists() for folder in folders.values())


def evaluation_documents(shared_datasets) -> list[Document]:
    documents = read_documents(shared_datasets / "conll04" / "dev.json")[:30]
    # One document longer than the tiny model's 128 sub-words: it is decoded in windows,
    # which must all land on the same rank.
    words = tuple(w for doc in documents[:8] for w in doc.tokens)
    return [*documents, Document(words, (), ())]


def _evaluate_on_rank(rank: int, world_size: int, init_file: str, data: str, out: str) -> None:
    import torch.distributed as dist
    from transformers import AutoTokenizer

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)  # fmt: skip
    torch.set_num_threads(1)
    from pathlib import Path

    model = tiny_model(AutoTokenizer.from_pretrained(minilm_path())).eval()
    documents = evaluation_documents(Path(data))
    context = DistributedContext(rank, world_size)
    predicted = predict_distributed(model, documents, _segments(model, documents), context, 4)
    result = score_predictions(model, documents, predicted)
    Path(out, f"rank{rank}.json").write_text(json.dumps(result.to_dict()))
    dist.destroy_process_group()


def _segments(model, documents):
    from iter.inference.documents import encode_for_model

    return encode_for_model(model, documents)


def test_evaluation_split_across_two_ranks_equals_one_process(
    tmp_path, shared_datasets, minilm_tokenizer
):
    import torch.multiprocessing as mp

    model = tiny_model(minilm_tokenizer).eval()
    documents = evaluation_documents(shared_datasets)
    segments = _segments(model, documents)
    assert len(segments) > len(documents)  # the long document has several windows
    expected, _ = score_model(model, documents, 4, segments=segments)
    assert expected.ner.micro.fp > 0  # the random model predicts: the counts mean something

    mp.spawn(
        _evaluate_on_rank,
        args=(2, str(tmp_path / "init"), str(shared_datasets), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    for rank in range(2):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == expected.to_dict()


@pytest.mark.slow
def test_two_process_run_killed_mid_epoch_resumes_as_if_uninterrupted(tmp_path, shared_datasets):
    """SIGTERM to the whole process group (as Slurm's preemption sends it): the ranks agree
    on the step to stop after, every rank's generators and loss sums are saved, and the
    resumed run's losses, dev and test scores equal an uninterrupted run's exactly."""
    import signal
    import time

    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node=2", "train.py"]  # fmt: skip
    overrides = [
        "seed=3", "trainer.max_epochs=2", "trainer.limit_train_batches=40",
        "trainer.num_threads=1", "trainer.device=cpu", "logger=none",
    ]  # fmt: skip

    def env_for(name: str) -> dict:
        return {
            **os.environ,
            "ITER_DATA_DIR": str(shared_datasets),
            "ITER_OUTPUT_DIR": str(tmp_path / name),
            "ITER_CACHE_DIR": str(tmp_path / "cache"),
            "PYTHONUNBUFFERED": "1",
        }

    def outcome(name: str) -> tuple[Path, dict]:
        # (Resuming opens a new Hydra folder for the log of the resumed part; the run
        # itself continues in the folder it resumes.)
        (path,) = (tmp_path / name / "runs" / "conll04" / "minilm").glob("*/metrics.json")
        metrics = json.loads(path.read_text())
        return path.parent, {
            "dev": metrics["dev_score"],
            "test": metrics["scores"],
            "losses": [h["train_loss"] for h in metrics["history"]],
            "dev_history": [h["dev_score"] for h in metrics["history"]],
        }

    run_training([*torchrun, *overrides], env_for("plain"))
    _, uninterrupted = outcome("plain")

    process = subprocess.Popen(
        [*torchrun, *overrides], cwd=REPO, env=env_for("killed"), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    runs = tmp_path / "killed" / "runs" / "conll04" / "minilm"
    deadline, state = time.monotonic() + 600, None
    while time.monotonic() < deadline and process.poll() is None:
        found = list(runs.glob("*/training_state.pt")) if runs.is_dir() else []
        if found:  # epoch 1 is over; epoch 2's 20 steps per rank take several seconds
            state = found[0]
            time.sleep(2.0)
            os.killpg(process.pid, signal.SIGTERM)
            break
        time.sleep(0.2)
    _, stderr = process.communicate(timeout=300)
    assert state is not None, stderr[-3000:]
    assert "stopped by signal SIGTERM at epoch 2" in stderr, stderr[-3000:]
    assert not (state.parent / "metrics.json").exists()
    saved = torch.load(state, weights_only=False)
    assert len(saved["ranks"]) == 2 and 0 < saved["trainer"]["step_in_epoch"] < 20

    resumed = run_training([*torchrun, *overrides, f"resume={state.parent}"], env_for("killed"))
    assert "resumed at epoch 2" in resumed.stdout + resumed.stderr
    _, after_resume = outcome("killed")
    assert after_resume == uninterrupted
