"""Pictures from run and sweep folders: written as real PNG files from the metrics."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from iter.plots import plot_paper_table, plot_run, plot_sweep
from iter.sweeps import summarize_sweep, write_summary
from tests.conftest import REPO
from tests.test_sweeps import task_scores, write_run

PNG = b"\x89PNG\r\n\x1a\n"


def image_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG, f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def write_run_with_history(folder, epochs: int = 4, relations: bool = True) -> None:
    write_run(folder, 1, 0.6, 0.5, relations=relations)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["best_epoch"] = 3
    metrics["history"] = [
        {
            "epoch": e,
            "dev_score": 0.1 * e,
            "train_loss": 100.0 / e,
            "train_start_loss": 20.0 / e,
            "train_span_loss": 30.0 / e,
            "train_link_loss": 50.0 / e if relations else 0.0,
            "dev": {
                t: task_scores(0.1 * e, 10 if relations or t == "ner" else 0)
                for t in ("ner", "re", "re_plus")
            },
        }
        for e in range(1, epochs + 1)
    ]
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.mark.parametrize("relations", [True, False])
def test_run_curves(relations, tmp_path):
    write_run_with_history(tmp_path / "run", relations=relations)
    out = plot_run(tmp_path / "run")
    assert out == tmp_path / "run" / "curves.png"
    width, height = image_size(out)
    assert width > 600 and height > 300


def test_a_run_without_epochs_is_refused(tmp_path):
    write_run_with_history(tmp_path / "run", epochs=0)
    with pytest.raises(ValueError, match="no epochs to plot"):
        plot_run(tmp_path / "run")


def test_sweep_summary_draws_its_scores(tmp_path):
    for seed, dev, test in [(1, 0.60, 0.50), (2, 0.70, 0.54)]:
        write_run(tmp_path / f"seed{seed}", seed, dev, test)
    write_summary(tmp_path)
    assert image_size(tmp_path / "scores.png")[0] > 600


def test_paper_table_figure(tmp_path):
    for seed in (1, 2):
        write_run(tmp_path / "conll04" / f"seed{seed}", seed, 0.6, 0.5)
        write_run(tmp_path / "genia" / f"seed{seed}", seed, 0.6, 0.7, dataset="genia",
                  relations=False)  # fmt: skip
    summaries = [summarize_sweep(tmp_path / name) for name in ("conll04", "genia")]
    published = {"conll04": [("DeBERTa-v3-large", {"re_plus": "77.46"})]}
    out = plot_paper_table(summaries, published, tmp_path / "table.png")
    assert image_size(out)[0] > 500
    # An entity-only sweep has one panel, a relation sweep three.
    narrow = image_size(plot_sweep(summaries[1], tmp_path / "genia.png"))[0]
    wide = image_size(plot_sweep(summaries[0], tmp_path / "conll04.png"))[0]
    assert wide > 2 * narrow


def test_rebuild_script(tmp_path):
    write_run_with_history(tmp_path / "run")
    done = subprocess.run(
        [sys.executable, "scripts/plots.py", str(tmp_path / "run"), str(tmp_path / "nope")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert (tmp_path / "run" / "curves.png").is_file()
    assert done.returncode == 2
    assert "not a run folder (no metrics.json) nor a sweep folder" in done.stderr
    assert "Traceback" not in done.stderr
