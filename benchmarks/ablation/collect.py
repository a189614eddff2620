"""Collect the ablation runs into benchmarks/ablation/results.json and the Markdown table.

Each row is a configuration (benchmarks/ablation/README.md lists the commands); its runs are
the run folders under ``outputs/ablation/<row>/runs/conll04/minilm/seed*``. A run's wall time
is read from its ``train.log`` (first to last line) and its peak memory from
``outputs/ablation/<row>/time-seed<N>.txt`` (``/usr/bin/time -v``, written by ``run.sh``).

    python3 benchmarks/ablation/collect.py [--outputs outputs/ablation]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from iter.sweeps import log_span_seconds  # noqa: E402
from iter.training.files import METRICS_FILE  # noqa: E402

# (row name, what it changes against the published objective)
ROWS = [
    ("new", "ITER as published (the other encoders' default)"),
    ("old", "the earlier objective: changes 1-5 all undone"),
    ("undo1-gold-links", "1 undone: links trained on gold x gold pairs only"),
    ("undo2-mean", "2 undone: per-element mean losses"),
    ("undo3-sigmoid", "3 undone: per-type sigmoid span step"),
    ("undo4-d_ff768", "4 undone: d_ff 768 for all heads"),
    ("undo5-input-dropout", "5 undone: dropout on the heads' input"),
    ("opt-type-links", "beyond the paper: the link step sees entity types"),
    ("opt-link-context", "beyond the paper: the link step reads the pooled text between the spans"),
    ("opt-ctx-lr1e-4", "beyond the paper, for MiniLM: the link context and encoder lr 1e-4"),
    ("opt-ctx-startend", "beyond the paper: the link context, spans as start + end states"),
    ("opt-ctx-inverse", "the link context and the authors' inverse link types (bit 18)"),
    ("opt-ctx-signatures", "the link context, decoding only the training data's type triples"),
    ("opt-ctx-ema-signatures", "the link context, a weight average and the signature constraint"),
    ("opt-ctx-pool", "the link context, spans max-pooled with a width embedding"),
    ("opt-ctx-no-overlaps", "the link context, overlapping spans dropped (MiniLM's default)"),
    ("opt-ctx-no-overlaps-30ep", "MiniLM's default on a 30-epoch schedule (decays to zero)"),
    ("opt-ctx-30ep-ema-sig", "30 epochs, weight average and signature constraint (make train)"),
    ("opt-30ep-ema-sig-batch4", "make train with batches of 4 (weight average decay 0.999)"),
    ("opt-30ep-ema-sig-distance", "make train with the link distance (model.link_distance)"),
    ("make-train-flushed", "make train again, denormal floats flushed (issue 13)"),
    ("opt-30ep-ema-sig-dropout0.1", "make train with the heads' dropout at 0.1 (not 0.3)"),
    ("opt-30ep-ema-sig-batch16", "make train with batches of 16 (weight average decay 0.996)"),
    ("opt-30ep-ema-sig-mentions0.3", "make train with mention replacement at 0.3"),
    ("opt-30ep-ema-sig-layer-mix", "make train, the heads reading a mix of all layers"),
    (
        "opt-ctx-no-overlaps-signatures",
        "MiniLM's default and the signature constraint, trained in",
    ),
    ("group-by-length", "the default, batches grouped by length (issue 13: group_by_length)"),
    ("bf16", "the default trained in bf16 autocast on this CPU (issue 13: trainer.precision=bf16)"),
    ("make-train-bf16", "make train in bf16 autocast on this CPU (issue 13)"),
]

def peak_rss_gib(time_file: Path) -> float | None:
    if not time_file.is_file():
        return None
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_file.read_text())
    return int(match.group(1)) / 2**20 if match else None


def run_record(run_dir: Path) -> dict | None:
    metrics_file = run_dir / METRICS_FILE
    if not metrics_file.is_file():
        return None
    metrics = json.loads(metrics_file.read_text())
    if "scores" not in metrics:
        return None  # still training
    scores = metrics["scores"]
    return {
        "run": str(run_dir),
        "seed": metrics["seed"],
        "best_epoch": metrics["best_epoch"],
        "epochs_trained": metrics["epochs_trained"],
        "dev_re_plus": 100 * metrics["dev_score"],
        "test_ner": 100 * scores["ner"]["micro"]["f1"],
        "test_re": 100 * scores["re"]["micro"]["f1"],
        "test_re_plus": 100 * scores["re_plus"]["micro"]["f1"],
        "wall_s": log_span_seconds(run_dir / "train.log"),
        # run.sh keeps /usr/bin/time's report beside the row's runs.
        "peak_rss_gib": peak_rss_gib(
            run_dir.parents[3] / f"time-seed{metrics['seed']}.txt"
        ),
    }


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", default="outputs/ablation")
    parser.add_argument(
        "--fresh", action="store_true",
        help="ignore results.json; by default its runs are kept for the seeds whose run "
        "folders are not under --outputs (runs trained on an earlier machine)",
    )  # fmt: skip
    args = parser.parse_args()
    previous = {}
    if not args.fresh and (HERE / "results.json").is_file():
        previous = json.loads((HERE / "results.json").read_text())
    results = {}
    lines = [
        "| row | change | seeds | test NER | test RE | test RE+ | dev RE+ | best / trained epochs "
        "| wall time per run |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
    ]
    for name, description in ROWS:
        found = {
            r["seed"]: r
            for d in sorted(Path(args.outputs, name).glob("runs/conll04/minilm/seed*"))
            if (r := run_record(d))
        }
        kept = [r for r in previous.get(name, {}).get("runs", []) if r["seed"] not in found]
        runs = sorted([*found.values(), *kept], key=lambda r: r["seed"])
        results[name] = {"change": description, "runs": runs}
        if not runs:
            continue

        def pick(key: str, runs: list[dict] = runs) -> list:
            return [r[key] for r in runs]

        epochs = ", ".join(f"{r['best_epoch']}/{r['epochs_trained']}" for r in runs)
        walls = ", ".join(f"{r['wall_s'] / 60:.0f} min" for r in runs if r["wall_s"])
        lines.append(
            f"| {name} | {description} | {', '.join(str(s) for s in pick('seed'))} "
            f"| {mean_std(pick('test_ner'))} | {mean_std(pick('test_re'))} "
            f"| {mean_std(pick('test_re_plus'))} | {mean_std(pick('dev_re_plus'))} "
            f"| {epochs} | {walls} |"
        )
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
