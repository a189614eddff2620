"""The paper's results table from sweep summaries: datasets × NER / RE / RE+, as Markdown and LaTeX.

python3 scripts/paper_table.py outputs/sweeps/*/*/main [--output benchmarks/paper_table]
python3 scripts/paper_table.py benchmarks/sweeps/*.json ...   (committed summaries work too)

With --output, <output>.md, <output>.tex and a figure <output>.png (measured beside published).

Each row is one sweep (summary.json, written when a sweep ends or by sweep_summary.py): test
F1 mean ± std over its runs, the run chosen by dev score ("best"), the encoder it used, and
the figure the paper published for that dataset beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iter.cli.errors import user_errors
from iter.sweeps import SweepError, duration, read_summary, write_summary
from iter.tasks import TASK_LABELS, TASKS

# Published test F1 (METHOD.md, "Published figures"): (encoder, {task: "value"}). SciERC's and
# GENIA's are the F1 in the model-index of the authors' checkpoints on the Hugging Face Hub
# (fleonce/iter-scierc-scideberta-full, fleonce/iter-genia-deberta-large), the one metric
# their cards give: RE+ for relation datasets as for CoNLL04's 77.46, NER for GENIA.
PUBLISHED: dict[str, list[tuple[str, dict[str, str]]]] = {
    "ace05": [
        ("FLAN-T5-3B", {"ner": "91.6", "re": "75.1", "re_plus": "71.9 ± 0.56"}),
        ("DeBERTa-v3-large (checkpoint)", {"re_plus": "71.37"}),
    ],
    "ade": [("FLAN-T5-3B", {"ner": "92.63", "re_plus": "85.6 ± 1.42"})],
    "conll04": [("DeBERTa-v3-large (checkpoint)", {"re_plus": "77.46"})],
    "conll03": [("DeBERTa-v3-large (checkpoint)", {"ner": "92.06"})],
    "genia": [("DeBERTa-v3-large (checkpoint)", {"ner": "80.82"})],
    "scierc": [("SciDeBERTa-full (checkpoint)", {"re_plus": "39.36"})],
}


def load_summary(folder: Path) -> dict:
    """A sweep folder's summary (written if missing), or a summary file itself (such as the
    committed ``benchmarks/sweeps/*.json``, whose run folders may be on another machine)."""
    if folder.is_file():
        return read_summary(folder)
    path = folder / "summary.json"
    if path.is_file():
        return read_summary(path)
    if folder.is_dir():
        return write_summary(folder)
    raise SweepError(f"{folder}: no such sweep folder")


def _cell(summary: dict, task: str) -> tuple[str, str]:
    if task != "ner" and not summary["has_relations"]:
        return "–", "–"
    ms = summary["mean_std"]["test"][task]
    chosen = next(r for r in summary["runs"] if r["name"] == summary["chosen"]["name"])
    return f"{100 * ms['mean']:.2f} ± {100 * ms['std']:.2f}", f"{100 * chosen['test'][task]:.2f}"


def _published(dataset: str) -> str:
    rows = PUBLISHED.get(dataset, [])
    return "; ".join(
        f"{encoder}: " + ", ".join(f"{TASK_LABELS[t]} {v}" for t, v in figures.items())
        for encoder, figures in rows
    )


def _epochs(summary: dict) -> str:
    """Epochs the runs trained: one number, or the range when early stopping varied it."""
    epochs = sorted({run["epochs"] for run in summary["runs"] if run.get("epochs") is not None})
    if not epochs:
        return "?"
    return str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"


def rows_for(summaries: list[dict]) -> list[dict]:
    rows = []
    for summary in sorted(summaries, key=lambda s: (s["dataset"] or "", s["transformer"] or "")):
        rows.append(
            {
                "dataset": summary["dataset"],
                "encoder": summary["transformer"],
                "runs": len(summary["runs"]),
                "epochs": _epochs(summary),
                # Mean training wall time per run; † where some come from train.log's span.
                "time": duration(summary.get("seconds_per_run"))
                + (" †" if summary.get("seconds_from_log") else ""),
                # The sweep's name says what its schedule was (e.g. 600steps-nocontext).
                "sweep": Path(summary["sweep"]).name,
                "average": summary["average"],
                "cells": {task: _cell(summary, task) for task in TASKS},
                "published": _published(summary["dataset"]),
            }
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    head = ["dataset", "encoder", "runs", "epochs", "time per run", "sweep"]
    head += [f"{TASK_LABELS[t]} mean ± std" for t in TASKS]
    head += [f"{TASK_LABELS[t]} best" for t in TASKS] + ["published (paper)"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---:|---:|---|" + "---:|" * 6 + "---|"]
    for row in rows:
        cells = [row["cells"][t][0] for t in TASKS] + [row["cells"][t][1] for t in TASKS]
        dataset = row["dataset"] + (" (macro)" if row["average"] == "macro" else "")
        lines.append(
            f"| {dataset} | {row['encoder']} | {row['runs']} | {row['epochs']} | {row['time']} | "
            f"{row['sweep']} | "
            + " | ".join(cells)
            + f" | {row['published'] or '–'} |"
        )
    if any(row["time"].endswith("†") for row in rows):
        lines.append(
            "\n† Some runs' time is the span of their `train.log` (runs from before epochs were "
            "timed), which also counts set-up, test scoring and pauses before a resume."
        )
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    return text.replace("_", r"\_").replace("&", r"\&").replace("%", r"\%").replace("#", r"\#")


def latex_table(rows: list[dict]) -> str:
    lines = [
        r"\begin{tabular}{llrrrrr}",
        r"\toprule",
        r"Dataset & Encoder & Runs & Epochs & NER & RE & RE+ \\",
        r"\midrule",
    ]
    for row in rows:
        cells = [row["cells"][t][0].replace("±", r"$\pm$") for t in TASKS]
        lines.append(
            f"{_latex_escape(row['dataset'])} & {_latex_escape(row['encoder'])} & {row['runs']} & "
            f"{row['epochs'].replace('–', '--')} & " + " & ".join(cells) + r" \\"
        )
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, help="write <output>.md and <output>.tex")
    args = parser.parse_args(argv)
    with user_errors():
        summaries = [load_summary(folder) for folder in args.sweep_dirs]
        rows = rows_for(summaries)
    markdown, latex = markdown_table(rows), latex_table(rows)
    print(markdown)
    print(latex)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_suffix(".md").write_text(markdown)
        args.output.with_suffix(".tex").write_text(latex)
        from iter.plots import plot_paper_table

        picture = plot_paper_table(summaries, PUBLISHED, args.output.with_suffix(".png"))
        print(f"figure: {picture}")


if __name__ == "__main__":
    main()
