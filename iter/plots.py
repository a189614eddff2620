"""Pictures of runs and sweeps, drawn from their metrics files (matplotlib, no display).

- :func:`plot_run`: ``curves.png`` in a run folder: the training loss and the dev NER / RE /
  RE+ F1 per epoch, the selected epoch marked.
- :func:`plot_sweep`: ``scores.png`` in a sweep folder: each run's dev and test F1 per task,
  the run chosen by dev marked.
- :func:`plot_paper_table`: the measured test F1 per dataset beside the published figures.

``scripts/plots.py`` rebuilds them from existing folders; training and sweeps draw them when
they finish.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from iter.tasks import TASK_LABELS, tasks_of
from iter.training.files import METRICS_FILE

CURVES_FILE = "curves.png"
SWEEP_FILE = "scores.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def _tasks(scores: Mapping) -> list[str]:
    """The tasks a dataset has: entity-only corpora have no relations to plot."""
    has_relations = scores.get("re", {}).get("micro", {}).get("support", 0) > 0
    return list(tasks_of(has_relations))


def plot_run(run_dir: str | Path) -> Path:
    """Draw ``curves.png`` from ``run_dir/metrics.json``; returns its path."""
    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    history = metrics["history"]
    if not history:
        raise ValueError(f"{run_dir / METRICS_FILE}: no epochs to plot")
    average = metrics["selection"].split()[-1]
    epochs = [h["epoch"] for h in history]
    plt = _pyplot()
    figure, (loss_axis, f1_axis) = plt.subplots(1, 2, figsize=(10, 3.8))
    loss_axis.plot(epochs, [h["train_loss"] for h in history], marker=".", label="total")
    for key, label in (("train_start_loss", "starts"), ("train_span_loss", "spans"),
                       ("train_link_loss", "links")):  # fmt: skip
        if key in history[0] and any(h[key] for h in history):
            loss_axis.plot(epochs, [h[key] for h in history], linewidth=1, label=label)
    from matplotlib.ticker import MaxNLocator

    for axis in (loss_axis, f1_axis):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_axis.set_yscale("log")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss per batch (log)")
    loss_axis.legend(fontsize=8)
    for task in _tasks(history[-1]["dev"]):
        values = [100 * h["dev"][task][average]["f1"] for h in history]
        f1_axis.plot(epochs, values, marker=".", label=f"dev {TASK_LABELS[task]}")
    best = metrics.get("best_epoch")
    if best is not None:
        f1_axis.axvline(best, color="grey", linestyle="--", linewidth=1,
                        label=f"selected (epoch {best})")  # fmt: skip
    f1_axis.set_xlabel("epoch")
    f1_axis.set_ylabel(f"F1 ({average}, %)")
    f1_axis.legend(fontsize=8)
    figure.suptitle(
        f"{metrics.get('dataset')} / {metrics.get('model')}, seed {metrics.get('seed')}"
        + (f", fold {metrics['fold']}" if metrics.get("fold") is not None else "")
    )
    figure.tight_layout()
    out = run_dir / CURVES_FILE
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def plot_sweep(summary: Mapping, out: str | Path) -> Path:
    """Draw each run's dev and test F1 per task from a sweep summary (``summary.json``)."""
    plt = _pyplot()
    runs = summary["runs"]
    tasks = tasks_of(summary.get("has_relations", True))
    figure, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.6), squeeze=False)
    names = [run["name"] for run in runs]
    chosen = summary.get("chosen", {}).get("name")
    for axis, task in zip(axes[0], tasks, strict=True):
        for split, marker in (("dev", "o"), ("test", "s")):
            axis.scatter(names, [100 * run[split][task] for run in runs], marker=marker,
                         label=split)  # fmt: skip
            mean = 100 * summary["mean_std"][split][task]["mean"]
            axis.axhline(mean, linewidth=1, linestyle=":", color="C0" if split == "dev" else "C1")
        if chosen in names:
            axis.axvline(names.index(chosen), color="grey", linestyle="--", linewidth=1)
        axis.set_title(f"{TASK_LABELS[task]} ({summary.get('average', 'micro')})")
        axis.set_ylabel("F1 (%)")
        axis.tick_params(axis="x", labelrotation=45, labelsize=7)
        axis.legend(fontsize=8)
    figure.suptitle(
        f"{summary.get('dataset')} / {summary.get('model')}: {len(runs)} runs "
        "(dotted: means; dashed: the run chosen by dev)"
    )
    figure.tight_layout()
    out = Path(out)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def plot_paper_table(
    summaries: Sequence[Mapping], published: Mapping[str, Sequence], out: str | Path
) -> Path:
    """Measured test F1 (mean ± std over the runs) per dataset and task, beside the paper's.

    ``published`` maps a dataset to (encoder, {task: "value"}) pairs as the paper table
    script keeps them; the first figure of each task is drawn.
    """
    plt = _pyplot()
    labels, measured, errors, paper = [], [], [], []
    for summary in summaries:
        tasks = tasks_of(summary.get("has_relations", True))
        for task in tasks:
            stats = summary["mean_std"]["test"][task]
            labels.append(f"{summary['dataset']}\n{TASK_LABELS[task]}")
            measured.append(100 * stats["mean"])
            errors.append(100 * stats["std"])
            figure_text = next(
                (figures[task] for _, figures in published.get(summary["dataset"], ())
                 if task in figures), None,
            )  # fmt: skip
            match = _NUMBER.search(figure_text) if figure_text else None
            paper.append(float(match.group()) if match else float("nan"))
    figure, axis = plt.subplots(figsize=(max(6.0, 0.9 * len(labels)), 4))
    positions = range(len(labels))
    axis.bar([p - 0.2 for p in positions], measured, width=0.4, yerr=errors, capsize=3,
             label="measured (mean ± std)")  # fmt: skip
    axis.bar([p + 0.2 for p in positions], paper, width=0.4, label="published")
    axis.set_xticks(list(positions), labels, fontsize=7)
    axis.set_ylabel("test F1 (%)")
    axis.set_ylim(0, 100)
    axis.legend(fontsize=8)
    figure.tight_layout()
    out = Path(out)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
