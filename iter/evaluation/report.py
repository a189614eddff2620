"""The plain-text score table and the metrics JSON format.

This module alone writes and reads metrics files, so training runs, ``evaluate.py`` and
whatever reads their output agree on one layout::

    {
      ...extra (run information given by the caller),
      "summary": {"ner_micro_f1": 80.0, "ner_macro_f1": ..., "re_plus_macro_f1": ...},
      "scores": EvaluationResult.to_dict()      (fractions 0..1 and counts),
      "percentages": {task: {"micro": {...}, "macro": {...}, "per_type": {type: {...}}}}
    }

Percentages are rounded to 2 decimals; the raw fractions stay in ``scores``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from iter.evaluation.metrics import EvaluationResult, Score, TaskScores
from iter.tasks import AVERAGES, TASK_TITLES, TASKS

RESERVED_KEYS = ("summary", "scores", "percentages")


def _percent(fraction: float) -> float:
    return round(100 * fraction, 2)


def _row(name: str, width: int, precision: float, recall: float, f1: float, support: str) -> str:
    return (
        f"  {name:<{width}}  {100 * precision:7.2f}  {100 * recall:7.2f}  {100 * f1:7.2f}"
        f"  {support:>7}"
    ).rstrip()  # the macro row has no support: leave no trailing blanks


def _task_lines(label: str, scores: TaskScores) -> list[str]:
    lines = [label]
    if not scores.per_type:
        # An NER-only model has no relation types: say so rather than print a row of zeros.
        lines.append("  (no types to score)")
        return lines
    width = max(len(name) for name in [*scores.per_type, "micro", "macro", "type"])
    lines.append(f"  {'type':<{width}}  {'P':>7}  {'R':>7}  {'F1':>7}  {'support':>7}")
    for name, score in scores.per_type.items():
        lines.append(_row(name, width, score.precision, score.recall, score.f1, str(score.support)))
    lines.append("  " + "-" * (width + 38))
    micro = scores.micro
    lines.append(_row("micro", width, micro.precision, micro.recall, micro.f1, str(micro.support)))
    # Macro has no support of its own: it weighs every type alike whatever its count.
    lines.append(
        _row("macro", width, scores.macro_precision, scores.macro_recall, scores.macro_f1, "")
    )
    return lines


def format_report(result: EvaluationResult, title: str = "") -> str:
    """A table per task (NER, RE, RE+): P, R, F1 in percent and support per type, micro, macro."""
    lines = [title] if title else []
    lines.append(f"{result.num_documents} documents; P / R / F1 in %, support = gold count")
    for name in TASKS:
        lines.append("")
        lines.extend(_task_lines(TASK_TITLES[name], result.task(name)))
    return "\n".join(lines)


def _score_percentages(score: Score) -> dict[str, float | int]:
    return {
        "precision": _percent(score.precision),
        "recall": _percent(score.recall),
        "f1": _percent(score.f1),
        "support": score.support,
    }


def _task_percentages(scores: TaskScores) -> dict[str, object]:
    return {
        "micro": _score_percentages(scores.micro),
        "macro": {
            "precision": _percent(scores.macro_precision),
            "recall": _percent(scores.macro_recall),
            "f1": _percent(scores.macro_f1),
        },
        "per_type": {name: _score_percentages(score) for name, score in scores.per_type.items()},
    }


def result_to_json(
    result: EvaluationResult, extra: Mapping[str, object] | None = None
) -> dict[str, object]:
    """The JSON-ready metrics document (see the module docstring) that is written to disk."""
    extra = dict(extra or {})
    clashes = sorted(set(extra) & set(RESERVED_KEYS))
    if clashes:
        # Silently letting the scores overwrite (or be overwritten by) run info would lose data.
        raise ValueError(f"extra metrics keys {clashes} clash with the reserved {RESERVED_KEYS}")
    summary = {
        f"{name}_{average}_f1": _percent(result.main_f1(name, average))
        for name in TASKS
        for average in AVERAGES
    }
    return {
        **extra,
        "summary": summary,
        "scores": result.to_dict(),
        "percentages": {name: _task_percentages(result.task(name)) for name in TASKS},
    }


def write_metrics_json(
    path: str | Path, result: EvaluationResult, extra: Mapping[str, object] | None = None
) -> None:
    """Write :func:`result_to_json` to ``path``, creating its folder."""
    path = Path(path)
    payload = result_to_json(result, extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write a sibling file and rename it: a run killed mid-write leaves the old file intact.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # default=str turns run information such as Paths into text rather than failing.
        tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def read_metrics_json(path: str | Path) -> dict:
    """Read a file written by :func:`write_metrics_json`.

    ``EvaluationResult.from_dict(data["scores"])`` rebuilds the scores from it.
    """
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "scores" not in data:
        raise ValueError(f"{path}: not a metrics file (no 'scores' object)")
    return data
