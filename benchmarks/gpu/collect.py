"""Summarise the training runs of one ``benchmarks/gpu/run.sh`` session (its ``runs.tgz``).

    python3 benchmarks/gpu/collect.py RUNS_DIR --output benchmarks/gpu/conll04-minilm-h200.json

A finished run is reported from its ``metrics.json`` (test scores of the dev-selected epoch).
A run stopped at the session's deadline is reported from ``stopped-best-test.json`` (its best
checkpoint so far, scored on test by the same script) and its ``train.log``'s epoch lines; it
is marked ``finished: false``: its selection could still have moved. Runs named NAME-seedN
form the group NAME, reported as mean and sample standard deviation over its runs.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from datetime import datetime
from pathlib import Path

# "epoch 24: train loss 2.9855, dev score 57.23 (best 60.37 at epoch 20)"
EPOCH_LINE = re.compile(
    r"\]\[[\w.]+\]\[INFO\] - epoch (\d+): train loss ([\d.]+), dev score ([\d.]+) "
    r"\(best ([\d.]+) at epoch (\d+)\)"
)
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]")
SEED_SUFFIX = re.compile(r"-seed\d+$")
SCORES = ("ner_micro_f1", "re_micro_f1", "re_plus_micro_f1")


def epoch_lines(log: str) -> list[dict]:
    """Each finished epoch's dev score and train loss from a run's ``train.log``."""
    epochs = []
    for line in log.splitlines():
        match = EPOCH_LINE.search(line)
        if match:
            epoch, loss, dev, best, best_epoch = match.groups()
            epochs.append({"epoch": int(epoch), "train_loss": float(loss),
                           "dev_re_plus": float(dev), "best_dev_re_plus": float(best),
                           "best_epoch": int(best_epoch),
                           "logged_at": logged_at(line)})  # fmt: skip
    return epochs


def logged_at(line: str) -> float | None:
    """A log line's time stamp in seconds (for differences only: the zone is ignored)."""
    stamp = LOG_TIME.match(line)
    if stamp is None:
        return None
    whole = datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S").timestamp()
    return whole + int(stamp[2]) / 1000


def seconds_between_epochs(epochs: list[dict]) -> float | None:
    """Mean time from one epoch's log line to the next (the first epoch's set-up left out)."""
    stamps = [e["logged_at"] for e in epochs if e["logged_at"] is not None]
    if len(stamps) < 2:
        return None
    return round((stamps[-1] - stamps[0]) / (len(stamps) - 1), 1)


def summarise_run(run: Path) -> dict:
    config = (run / "config.yaml").read_text()
    precision = re.search(r"^\s+precision: (\w+)", config, re.MULTILINE).group(1)
    seed = int(re.search(r"^seed: (\d+)", config, re.MULTILINE).group(1))
    dataset = re.search(r"^dataset:\n  name: (\S+)", config, re.MULTILINE)
    epochs = epoch_lines((run / "train.log").read_text())
    row = {"run": run.name, "group": SEED_SUFFIX.sub("", run.name),
           "dataset": dataset.group(1) if dataset else None, "seed": seed,
           "precision": precision}  # fmt: skip
    metrics = run / "metrics.json"
    if metrics.exists():
        data = json.loads(metrics.read_text())
        seconds = [h["seconds"] for h in data["history"]]
        row.update(finished=True, best_epoch=data["best_epoch"],
                   epochs_trained=data["epochs_trained"],
                   dev_re_plus=round(100 * data["dev_score"], 2),
                   mean_epoch_seconds=round(statistics.mean(seconds), 1),
                   test={k: data["summary"][k] for k in SCORES})  # fmt: skip
    else:
        stopped = json.loads((run / "stopped-best-test.json").read_text())
        last = epochs[-1]
        row.update(finished=False, best_epoch=last["best_epoch"], epochs_trained=last["epoch"],
                   dev_re_plus=last["best_dev_re_plus"],
                   mean_epoch_seconds=seconds_between_epochs(epochs),
                   test={k: stopped["summary"][k] for k in SCORES})  # fmt: skip
    row["dev_re_plus_per_epoch"] = [e["dev_re_plus"] for e in epochs]
    return row


def summarise_groups(rows: list[dict]) -> dict[str, dict]:
    """Per group: its runs and each test score's mean and standard deviation over them."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    summary = {}
    for name, members in groups.items():
        entry = {"runs": len(members), "seeds": sorted(r["seed"] for r in members),
                 "finished": sum(r["finished"] for r in members)}  # fmt: skip
        for key in SCORES:
            values = [r["test"][key] for r in members]
            entry[key] = {
                "mean": round(statistics.mean(values), 2),
                "std": round(statistics.stdev(values), 2) if len(values) > 1 else 0.0,
            }
        summary[name] = entry
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="the runs/ folder unpacked from runs.tgz")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    folders = [run for run in sorted(args.runs.iterdir()) if run.is_dir()]
    # A training that failed before its run folder was set up has a log beside the folder
    # but no config or train.log: named, and left out of the groups.
    failed = [run.name for run in folders if not (run / "config.yaml").exists()]
    for name in failed:
        print(f"{name:<16} failed before training (see {name}.log)")
    rows = [summarise_run(run) for run in folders
            if run.name not in failed and (run / "train.log").exists()]  # fmt: skip
    environment = json.loads(next(args.runs.glob("*/environment.json")).read_text())
    result = {"environment": {k: environment.get(k) for k in
                              ("gpu", "torch", "cuda", "transformers", "python", "git_commit")},
              "groups": summarise_groups(rows), "runs": rows,
              "failed": failed}  # fmt: skip
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    for row in rows:
        test = " / ".join(f"{row['test'][k]:.2f}" for k in SCORES)
        state = "finished" if row["finished"] else "stopped"
        print(f"{row['run']:<16} {state:<8} best {row['best_epoch']:>3} / "
              f"{row['epochs_trained']:>3}  dev RE+ {row['dev_re_plus']:6.2f}  "
              f"test NER / RE / RE+ {test}")  # fmt: skip
    for name, group in result["groups"].items():
        scores = " / ".join(f"{group[k]['mean']:.2f} ± {group[k]['std']:.2f}" for k in SCORES)
        print(f"{name:<16} {group['runs']} runs ({group['finished']} finished)  "
              f"test NER / RE / RE+ {scores}")  # fmt: skip


if __name__ == "__main__":
    main()
