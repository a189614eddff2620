"""benchmarks/gpu/collect.py: finished runs from metrics.json, stopped ones from their log and
their best checkpoint's test scores."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

CONFIG = "seed: {seed}\ntrainer:\n  precision: {precision}\ndataset:\n  name: conll04\n"
LOG_LINE = (
    "[2026-11-29 19:08:{s:02d},215][iter.training.trainer][INFO] - epoch {epoch}: "
    "train loss 3.5, dev score {dev} (best {best} at epoch {best_epoch})\n"
)
SUMMARY = {"ner_micro_f1": 82.0, "re_micro_f1": 58.0, "re_plus_micro_f1": 57.5}


def write_run(folder, seed, precision, epochs, finished, test=SUMMARY):
    folder.mkdir()
    (folder / "config.yaml").write_text(CONFIG.format(seed=seed, precision=precision))
    (folder / "environment.json").write_text(json.dumps({"gpu": "GPU X", "torch": "2.11"}))
    best, best_epoch, lines = 0.0, 0, []
    for epoch, dev in enumerate(epochs, start=1):
        if dev > best:
            best, best_epoch = dev, epoch
        lines.append(LOG_LINE.format(s=epoch, epoch=epoch, dev=dev, best=best,
                                     best_epoch=best_epoch))  # fmt: skip
    (folder / "train.log").write_text("".join(lines))
    if finished:
        metrics = {"best_epoch": best_epoch, "epochs_trained": len(epochs),
                   "dev_score": best / 100, "summary": SUMMARY,
                   "history": [{"seconds": 10.0 + i} for i in range(len(epochs))]}  # fmt: skip
        (folder / "metrics.json").write_text(json.dumps(metrics))
    else:
        (folder / "stopped-best-test.json").write_text(json.dumps({"summary": test}))


def test_collect_reports_finished_and_stopped_runs(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    write_run(runs / "default-seed1", 1, "fp32", [40.0, 55.5, 54.0], finished=True)
    write_run(runs / "bf16-seed1", 1, "bf16", [30.0, 50.0, 52.25, 51.0], finished=False)
    lower = {**SUMMARY, "re_plus_micro_f1": 55.5}
    write_run(runs / "bf16-seed2", 2, "bf16", [30.0, 51.0], finished=False, test=lower)
    (runs / "default-seed1.log").write_text("a process log, not a run folder\n")
    # A training that crashed while starting: an empty run folder beside its log.
    (runs / "crashed-seed1").mkdir()
    (runs / "crashed-seed1.log").write_text("FileNotFoundError: ...\n")
    output = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu/collect.py", str(runs), "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(output.read_text())
    assert result["environment"]["gpu"] == "GPU X"
    rows = {row["run"]: row for row in result["runs"]}
    assert set(rows) == {"default-seed1", "bf16-seed1", "bf16-seed2"}
    assert result["failed"] == ["crashed-seed1"]
    assert "crashed-seed1    failed before training (see crashed-seed1.log)" in done.stdout
    finished = rows["default-seed1"]
    assert finished["finished"] is True
    assert (finished["best_epoch"], finished["epochs_trained"]) == (2, 3)
    assert finished["dev_re_plus"] == 55.5
    assert finished["mean_epoch_seconds"] == 11.0
    assert finished["dev_re_plus_per_epoch"] == [40.0, 55.5, 54.0]
    stopped = rows["bf16-seed1"]
    assert stopped["finished"] is False and stopped["precision"] == "bf16"
    assert (stopped["best_epoch"], stopped["epochs_trained"]) == (3, 4)
    assert stopped["dev_re_plus"] == 52.25
    assert stopped["test"]["re_plus_micro_f1"] == 57.5
    # Epoch lines one second apart in the log: the stopped run's time per epoch.
    assert stopped["mean_epoch_seconds"] == 1.0
    assert stopped["dataset"] == "conll04" and stopped["group"] == "bf16"
    groups = result["groups"]
    assert groups["bf16"]["runs"] == 2 and groups["bf16"]["seeds"] == [1, 2]
    assert groups["bf16"]["finished"] == 0 and groups["default"]["finished"] == 1
    assert groups["bf16"]["re_plus_micro_f1"] == {"mean": 56.5, "std": 1.41}
    assert groups["default"]["re_plus_micro_f1"] == {"mean": 57.5, "std": 0.0}
    assert "stopped" in done.stdout and "finished" in done.stdout
