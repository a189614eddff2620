"""Summaries of multi-run sweeps: seeds (best of N) or cross-validation folds.

A sweep folder holds one run folder per job (Hydra multirun: ``<sweep>/seed1``, ...), each
with the ``metrics.json`` a finished run writes. :func:`summarize_sweep` reads them all and
reports each run's dev and test NER / RE / RE+, the mean ± standard deviation over runs, and
the run chosen by dev score (the checkpoint to publish, as the paper does with best of 5).
:func:`write_summary` also restates that run's model card: chosen from N runs, with the
sweep's test mean ± std beside the run's own scores.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict

from iter.errors import ConfigError, IterError
from iter.tasks import TASK_LABELS, TASKS, tasks_of
from iter.training.files import METRICS_FILE

logger = logging.getLogger(__name__)


class SweepError(IterError):
    """A sweep folder holds no finished run, or runs that cannot be summarised together."""


@dataclass(frozen=True)
class RunScores:
    name: str  # the run folder's name within the sweep
    seed: int
    fold: int | None
    dev_score: float
    dev: dict[str, float]  # task -> F1 (the dataset's average)
    test: dict[str, float]
    checkpoint: str
    epochs: int | None = None  # epochs trained (early stopping may end a run before the max)
    # Training wall time: the sum of the epochs' recorded seconds ("epochs"), or for runs
    # written before epochs were timed the span of train.log's time stamps ("log", which
    # also counts set-up, test scoring and any pause before a resume); None if neither.
    seconds: float | None = None
    seconds_from: str | None = None
    # The earlier summary a run was read from, when its folder is not in the sweep folder.
    imported_from: str | None = None


def _f1(scores: dict, task: str, average: str) -> float:
    return float(scores[task][average]["f1"])


def read_metrics(folder: Path) -> dict | None:
    """A run folder's parsed metrics.json; None while the run has not finished."""
    path = folder / METRICS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SweepError(f"{path}: not a metrics file of a finished run ({err!r})") from None


_LOG_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.]\d+\]")


def training_seconds(folder: Path, metrics: dict) -> tuple[float | None, str | None]:
    """A run's training wall time and where it comes from (see :class:`RunScores`)."""
    history = metrics.get("history") or []
    if history and all("seconds" in epoch for epoch in history):
        return float(sum(epoch["seconds"] for epoch in history)), "epochs"
    span = log_span_seconds(folder / "train.log")
    return (span, "log") if span is not None else (None, None)


def log_span_seconds(log: Path) -> float | None:
    """Seconds from the first to the last time-stamped line of a run's log; None without a
    log or with fewer than two stamps."""
    if not log.is_file():
        return None
    stamps = [m.group(1) for line in log.read_text().splitlines() if (m := _LOG_STAMP.match(line))]
    if len(stamps) < 2:
        return None
    return (datetime.fromisoformat(stamps[-1]) - datetime.fromisoformat(stamps[0])).total_seconds()


def run_scores(folder: Path, metrics: dict) -> RunScores:
    """The scores of a finished run, from its parsed metrics."""
    try:
        average = metrics["selection"].split()[-1]
        fold = metrics.get("fold")
        seconds, seconds_from = training_seconds(folder, metrics)
        return RunScores(
            name=folder.name,
            seed=int(metrics["seed"]),
            fold=None if fold is None else int(fold),
            dev_score=float(metrics["dev_score"]),
            dev={task: _f1(metrics["dev"], task, average) for task in TASKS},
            test={task: _f1(metrics["scores"], task, average) for task in TASKS},
            checkpoint=str(folder / "checkpoint-best"),
            epochs=metrics.get("epochs_trained"),
            seconds=seconds,
            seconds_from=seconds_from,
        )
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise SweepError(
            f"{folder / METRICS_FILE}: not a metrics file of a finished run ({err!r})"
        ) from None


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single run)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def read_summary(path: Path) -> dict:
    """A ``summary.json`` as :func:`summarize_sweep` wrote it; anything else is a
    :class:`SweepError` naming the file and what it lacks."""
    try:
        summary = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise SweepError(f"{path}: not a sweep summary ({err})") from None
    fields = ("dataset", "mean_std", "runs", "chosen")
    missing = [k for k in fields if not isinstance(summary, dict) or k not in summary]
    if missing:
        raise SweepError(f"{path}: not a sweep summary (no {', '.join(missing)})")
    return summary


def imported_runs(summary_file: Path, sweep: dict) -> list[RunScores]:
    """The runs of an earlier ``summary.json`` (e.g. made on another machine, whose run
    folders are not here), for a sweep of the same dataset, model and selection."""
    earlier = read_summary(summary_file)
    mismatched = [k for k in ("dataset", "model", "selection") if earlier.get(k) != sweep[k]]
    if mismatched:
        raise SweepError(
            f"{summary_file}: another sweep's summary ({', '.join(mismatched)} differ: "
            + ", ".join(f"{earlier.get(k)!r} against {sweep[k]!r}" for k in mismatched) + ")"
        )
    try:
        return [RunScores(**{**run, "imported_from": run.get("imported_from") or str(summary_file)})
                for run in earlier["runs"]]  # fmt: skip
    except (TypeError, AttributeError) as err:
        raise SweepError(f"{summary_file}: a run entry is not a run's scores ({err})") from None


def summarize_sweep(sweep_dir: Path, imports: Sequence[Path] = ()) -> dict:
    """Per-run scores, mean ± std per split and task, and the run chosen by dev score.

    ``imports`` are earlier summaries whose runs count too, unless a run folder of the same
    name is here (the folder wins): a sweep whose first seeds ran on another machine."""
    # Hidden folders are the launcher's (.submitit) or Hydra's, not runs.
    folders = sorted(
        p for p in Path(sweep_dir).iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    finished = {f: m for f in folders if (m := read_metrics(f)) is not None}
    if not finished:
        raise SweepError(f"{sweep_dir}: no finished run (no */{METRICS_FILE})")
    runs = [run_scores(folder, metrics) for folder, metrics in finished.items()]
    unfinished = [f.name for f in folders if f not in finished]
    first = next(iter(finished.values()))
    here = {"dataset": first.get("dataset"), "model": first.get("model"),
            "selection": first["selection"]}  # fmt: skip
    names = {run.name for run in runs} | set(unfinished)
    for summary_file in imports:
        for run in imported_runs(summary_file, here):
            if run.name not in names:
                runs.append(run)
                names.add(run.name)
    runs.sort(key=lambda run: run.name)
    chosen = max(runs, key=lambda run: (run.dev_score, -run.seed))
    aggregate: dict[str, dict[str, dict[str, float]]] = {}
    for split in ("dev", "test"):
        aggregate[split] = {}
        for task in TASKS:
            mean, std = mean_std([getattr(run, split)[task] for run in runs])
            aggregate[split][task] = {"mean": mean, "std": std}
    timed = [run.seconds for run in runs if run.seconds is not None]
    return {
        "sweep": str(sweep_dir),
        "dataset": first.get("dataset"),
        "model": first.get("model"),
        "transformer": first.get("transformer"),
        "average": first["selection"].split()[-1],
        # Entity-only datasets (CoNLL03, GENIA) have no RE / RE+ to report.
        "has_relations": first["scores"]["re"]["micro"]["support"] > 0,
        "selection": first["selection"],
        "runs": [run.__dict__ for run in runs],
        "unfinished": unfinished,
        "mean_std": aggregate,
        # Training wall time per run (mean over the runs that have one; see RunScores).
        "seconds_per_run": statistics.fmean(timed) if timed else None,
        "seconds_from_log": any(run.seconds_from == "log" for run in runs),
        "chosen": {"name": chosen.name, "seed": chosen.seed, "checkpoint": chosen.checkpoint},
    }


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.2f}"


def duration(seconds: float | None) -> str:
    """Wall time as the tables show it: minutes, or hours and minutes from an hour."""
    if seconds is None:
        return "–"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def summary_markdown(summary: dict) -> str:
    titles = [TASK_LABELS[t] for t in TASKS]
    # Entity-only datasets (CoNLL03, GENIA) have no relation scores to show.
    shown = {t: summary.get("has_relations", True) or t == "ner" for t in TASKS}
    lines = [
        f"# {summary['dataset']} · {summary['model']} ({summary['transformer']})",
        "",
        f"F1 in %, {summary['average']} average; runs selected by dev {summary['selection']}.",
        "",
        "| run | seed | fold | epochs | time | " + " | ".join(f"dev {t}" for t in titles)
        + " | " + " | ".join(f"test {t}" for t in titles) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * (2 * len(TASKS)),
    ]  # fmt: skip
    for run in summary["runs"]:
        chosen = " ✓" if run["name"] == summary["chosen"]["name"] else ""
        fold = "" if run["fold"] is None else str(run["fold"])
        cells = [
            _pct(run[split][t]) if shown[t] else "–" for split in ("dev", "test") for t in TASKS
        ]
        epochs = "" if run.get("epochs") is None else str(run["epochs"])
        time = duration(run.get("seconds")) + ("*" if run.get("seconds_from") == "log" else "")
        imported = "†" if run.get("imported_from") else ""
        lines.append(
            f"| {run['name']}{imported}{chosen} | {run['seed']} | {fold} | {epochs} | {time} | "
            + " | ".join(cells)
            + " |"
        )
    ms = summary["mean_std"]
    count = len(summary["runs"])
    cells = [
        f"{_pct(ms[split][t]['mean'])} ± {_pct(ms[split][t]['std'])}" if shown[t] else "–"
        for split in ("dev", "test")
        for t in TASKS
    ]
    mean_time = duration(summary.get("seconds_per_run"))
    lines.append(
        f"| **mean ± std** ({count} run{'s' if count != 1 else ''}) | | | | {mean_time} | "
        + " | ".join(cells)
        + " |"
    )
    lines += ["", f"Chosen by dev score: `{summary['chosen']['name']}` "
              f"(checkpoint `{summary['chosen']['checkpoint']}`)."]  # fmt: skip
    if summary.get("seconds_from_log"):
        lines.append(
            "\\* From `train.log`'s first to last time stamp (a run from before epochs were "
            "timed): includes set-up, test scoring and any pause before a resume."
        )
    sources = sorted({run["imported_from"] for run in summary["runs"] if run.get("imported_from")})
    if sources:
        lines.append(
            "† Read from an earlier summary (" + ", ".join(f"`{p}`" for p in sources)
            + "): its run folder is not in this sweep folder."
        )  # fmt: skip
    if summary["unfinished"]:
        lines.append(f"Not finished (left out): {', '.join(summary['unfinished'])}.")
    return "\n".join(lines) + "\n"


def write_summary(sweep_dir: Path, imports: Sequence[Path] = ()) -> dict:
    """Write ``summary.json``, ``summary.md`` and the ``scores.png`` plot into the sweep
    folder and restate the runs' cards (:func:`restate_cards`); return the summary.
    ``imports``: earlier summaries whose runs count too (:func:`summarize_sweep`)."""
    from iter.plots import SWEEP_FILE, plot_sweep

    summary = summarize_sweep(sweep_dir, imports)
    (Path(sweep_dir) / "summary.json").write_text(json.dumps(summary, indent=2))
    (Path(sweep_dir) / "summary.md").write_text(summary_markdown(summary))
    plot_sweep(summary, Path(sweep_dir) / SWEEP_FILE)
    restate_cards(summary)
    return summary


def restate_cards(summary: dict) -> list[Path]:
    """The chosen run's card says that it was chosen from the sweep's finished runs, with
    their test mean ± std; every other run's card says again that it is one run's, as a
    re-run sweep with more seeds may have chosen another run since. Returns the cards it
    rewrote; runs without a checkpoint, and cards it cannot read, keep what they have."""
    from iter.cards import card_for_sweep, selection_score_name, sweep_section
    from iter.modeling.hub import CARD_FILE

    metric, average = summary["selection"].split()
    score_name = selection_score_name(metric, average)
    names = [run["name"] for run in summary["runs"]]
    chosen = summary["chosen"]["name"]
    tasks = tasks_of(summary.get("has_relations", True))
    test = {t: (s["mean"], s["std"]) for t, s in summary["mean_std"]["test"].items()}
    rewritten = []
    for run in summary["runs"]:
        path = Path(run["checkpoint"]) / CARD_FILE
        if not path.is_file():
            continue
        # One run is no sweep to be chosen from: its card stays a single run's.
        runs = len(names) if run["name"] == chosen else 1
        section = sweep_section(names, chosen, tasks, test, average) if runs > 1 else ""
        try:
            card = path.read_text(encoding="utf-8")
            restated = card_for_sweep(card, runs, score_name, section)
        except ValueError as err:  # also a card that is not UTF-8
            logger.warning("%s: card left as it is (%s)", path, err)
            continue
        if restated != card:
            _write_text_atomic(path, restated)
            rewritten.append(path)
            logger.info("%s: chosen from %d run%s", path, runs, "s" if runs > 1 else "")
    return rewritten


def _write_text_atomic(path: Path, text: str) -> None:
    # A card read while it is rewritten is the old one or the new one, never half of each.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def add_sweep_group(cfg: DictConfig) -> None:
    """What every job of a multirun adds to its config: one W&B group for the sweep."""
    if cfg.logger.get("group", False) is None:
        with open_dict(cfg):
            cfg.logger.group = f"{cfg.dataset.name}-{cfg.model.name}-{cfg.sweep_name}"


def sweep_job_configs(config: DictConfig) -> list[tuple[Path, DictConfig]]:
    """Each job of the multirun ``config`` describes: (its run folder, its task config).

    The jobs are expanded and composed the way Hydra's basic sweeper and launchers do it,
    so the configs equal the ones the jobs will train with.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    loader = GlobalHydra.instance().config_loader()
    arguments = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    arguments += list(config.hydra.overrides.task)
    overrides = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
    jobs = []
    try:
        for batch in BasicSweeper.split_arguments(overrides, None):
            for job_overrides in batch:
                job = loader.load_sweep_config(config, list(job_overrides))
                HydraConfig.instance().set_config(job)
                run_dir = Path(job.hydra.sweep.dir) / str(job.hydra.sweep.subdir)
                with open_dict(job):
                    del job["hydra"]
                add_sweep_group(job)
                jobs.append((run_dir, job))
    finally:
        HydraConfig.instance().set_config(config)
    return jobs


class SweepCheckCallback(Callback):
    """Hydra callback: before any job starts, refuse a sweep with a job whose config breaks
    the schema, or whose folder holds runs of another configuration, with one message
    instead of a failed job's traceback per run (which is what a cluster launcher would
    otherwise report, after queueing the jobs)."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        from iter.cli.errors import user_errors
        from iter.training.run_folder import check_same_configuration
        from iter.training.schema import validate_config

        with user_errors():
            jobs = sweep_job_configs(config)
            # Every job's config is checked before the first starts: a bad value in the
            # fifth seed's overrides must not wait for four trainings (or a queue) to show.
            for run_dir, job in jobs:
                try:
                    validate_config(job)
                except ConfigError as err:
                    raise ConfigError(f"sweep job {run_dir.name}: {err}") from None
            for run_dir, job in jobs:
                check_same_configuration(run_dir, job)


class SweepSummaryCallback(Callback):
    """Hydra callback: once every job of a multirun has ended, summarise the sweep folder."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            summary = write_summary(sweep_dir)
        except SweepError as err:
            print(f"no sweep summary: {err}")
            return
        print(summary_markdown(summary))
        print(f"summary: {sweep_dir / 'summary.md'} and summary.json")
