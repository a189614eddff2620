"""How much a score owes to the test set's draw: bootstrap intervals and paired comparisons.

A test set of a few hundred sentences is one sample of the sentences a model will meet; a
different sample of the same size would give a different F1. The bootstrap estimates that
spread by scoring the predictions on resampled test sets: ``samples`` times, draw as many
documents as the set has, with replacement, and recompute the scores from the drawn
documents' counts (Efron & Tibshirani 1993; for NLP, Koehn 2004 and Berg-Kirkpatrick et al.
2012).

- :func:`confidence_intervals`: a percentile interval for each task's micro and macro F1 of
  one set of predictions.
- :func:`compare`: the difference B - A between two groups of runs scored on the same
  documents (one run each: a paired comparison of two checkpoints; several seeds each: a
  comparison of two training recipes). Every resample draws one set of documents for all runs,
  so a document that is hard for both counts once, and it draws each group's seeds with
  replacement, so the seeds' spread enters the interval too. The p-value is two-sided: the
  share of resampled differences at least as far from the observed one as the observed one is
  from zero (the bootstrap distribution shifted to the null hypothesis of no difference).

Scores are recomputed exactly as :func:`iter.evaluation.metrics.evaluate` computes them, from
per-document true positive, false positive and false negative counts per type.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iter.data.document import Document
from iter.errors import ConfigError
from iter.evaluation.metrics import evaluate
from iter.tasks import AVERAGES, TASK_LABELS, TASKS

DEFAULT_SAMPLES = 1000
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class CountTable:
    """Per-document counts of one set of predictions: ``counts[task]`` is an int array of shape
    (documents, types, 3) holding tp, fp, fn; ``types[task]`` names its types in order."""

    types: dict[str, tuple[str, ...]]
    counts: dict[str, np.ndarray]

    @property
    def num_documents(self) -> int:
        return next(iter(self.counts.values())).shape[0]

    def f1(self, task: str, average: str, weights: np.ndarray | None = None) -> np.ndarray:
        """F1 (0..1) of ``task`` for each row of ``weights`` (resamples x documents: how often
        each document was drawn); without weights, the F1 of the whole set, as a 0-d array."""
        counts = self.counts[task]
        if weights is None:
            summed = counts.sum(axis=0)[None]
        else:
            summed = np.einsum("bd,dtk->btk", weights, counts, dtype=np.float64)
        if average == "micro":
            summed = summed.sum(axis=1, keepdims=True)
        elif average != "macro":
            raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
        tp, fp, fn = summed[..., 0], summed[..., 1], summed[..., 2]
        denominator = 2 * tp + fp + fn
        # A type with no gold and no predicted item scores 0, as in metrics.Score.f1.
        per_type = np.divide(2 * tp, denominator, out=np.zeros_like(denominator, dtype=float),
                             where=denominator > 0)  # fmt: skip
        # A task without types (an NER-only model's relations) scores 0, as TaskScores does.
        f1 = per_type.mean(axis=1) if per_type.shape[1] else np.zeros(per_type.shape[0])
        return f1 if weights is not None else f1[0]


def count_table(
    gold: Sequence[Document],
    predicted: Sequence[Document],
    symmetric_relation_types: Collection[str] = (),
    entity_types: Sequence[str] | None = None,
    relation_types: Sequence[str] | None = None,
) -> CountTable:
    """The per-document counts of ``predicted`` against ``gold`` (aligned by position, as
    :func:`~iter.evaluation.metrics.evaluate` takes them, with the same known types)."""
    gold, predicted = list(gold), list(predicted)
    known = {"ner": entity_types, "re": relation_types, "re_plus": relation_types}
    results = [
        evaluate(
            [one_gold], [one_predicted], symmetric_relation_types, entity_types, relation_types
        )
        for one_gold, one_predicted in zip(gold, predicted, strict=True)
    ]
    # The rows are evaluate()'s for the whole set (the known types in order, then every other
    # type seen, sorted), so that macro averages over the table equal evaluate()'s.
    types = {}
    for task in TASKS:
        ordered = list(dict.fromkeys(known[task] or ()))
        seen = {name for result in results for name in result.task(task).per_type}
        types[task] = (*ordered, *sorted(seen - set(ordered)))
    counts = {task: np.zeros((len(gold), len(types[task]), 3), dtype=np.int64) for task in TASKS}
    for index, result in enumerate(results):
        for task in TASKS:
            rows = result.task(task).per_type
            for column, name in enumerate(types[task]):
                score = rows.get(name)
                if score is not None:
                    counts[task][index, column] = (score.tp, score.fp, score.fn)
    return CountTable(types, counts)


def read_predictions(path: str | Path, gold: Sequence[Document]) -> list[Document]:
    """The predicted documents in ``path`` (common JSON, as ``evaluate.py --predictions``
    writes them), which must be ``gold``'s documents in ``gold``'s order."""
    from iter.data.reader import read_documents

    predicted = read_documents(path)
    if len(predicted) != len(gold):
        raise ConfigError(f"{path}: {len(predicted)} documents, but the split has {len(gold)}")
    for index, (gold_doc, predicted_doc) in enumerate(zip(gold, predicted, strict=True)):
        if gold_doc.tokens != predicted_doc.tokens:
            raise ConfigError(
                f"{path}: document {index} has other words than the split's "
                "(predictions of another split, or in another order?)"
            )
    return predicted


def _aligned(tables: Sequence[CountTable]) -> list[CountTable]:
    """The tables with the same type rows in the same order (missing rows count zero)."""
    if len({table.num_documents for table in tables}) > 1:
        sizes = sorted({table.num_documents for table in tables})
        raise ValueError(f"the runs were scored on different numbers of documents: {sizes}")
    types = {
        task: tuple(dict.fromkeys(name for table in tables for name in table.types[task]))
        for task in TASKS
    }
    aligned = []
    for table in tables:
        counts = {}
        for task in TASKS:
            full = np.zeros((table.num_documents, len(types[task]), 3), dtype=np.int64)
            for column, name in enumerate(table.types[task]):
                full[:, types[task].index(name)] = table.counts[task][:, column]
            counts[task] = full
        aligned.append(CountTable(types, counts))
    return aligned


def _resample_weights(
    num_documents: int, samples: int, rng: np.random.Generator
) -> np.ndarray:
    """How often each document is drawn in each resample (samples x documents)."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if num_documents < 1:
        raise ValueError("there are no documents to resample")
    uniform = np.full(num_documents, 1.0 / num_documents)
    return rng.multinomial(num_documents, uniform, size=samples)


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


@dataclass(frozen=True)
class Interval:
    """A score (F1 in percent) and its bootstrap percentile interval."""

    task: str
    average: str
    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, object]:
        return {
            "task": self.task,
            "average": self.average,
            "f1": round(self.estimate, 2),
            "low": round(self.low, 2),
            "high": round(self.high, 2),
        }


def confidence_intervals(
    table: CountTable,
    tasks: Sequence[str] = TASKS,
    samples: int = DEFAULT_SAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> list[Interval]:
    """A percentile interval for each task's micro and macro F1 of one set of predictions."""
    _check_level(level)
    weights = _resample_weights(table.num_documents, samples, np.random.default_rng(seed))
    tail = 100 * (1 - level) / 2
    intervals = []
    for task in tasks:
        for average in AVERAGES:
            resampled = 100 * table.f1(task, average, weights)
            low, high = np.percentile(resampled, [tail, 100 - tail])
            estimate = 100 * float(table.f1(task, average))
            intervals.append(Interval(task, average, estimate, float(low), float(high)))
    return intervals


@dataclass(frozen=True)
class Difference:
    """Group B's mean F1 minus group A's (percent points), with its interval and p-value."""

    task: str
    average: str
    a: float
    b: float
    low: float
    high: float
    p_value: float

    @property
    def delta(self) -> float:
        return self.b - self.a

    def to_dict(self) -> dict[str, object]:
        return {
            "task": self.task,
            "average": self.average,
            "a": round(self.a, 2),
            "b": round(self.b, 2),
            "delta": round(self.delta, 2),
            "low": round(self.low, 2),
            "high": round(self.high, 2),
            "p_value": round(self.p_value, 4),
        }


def compare(
    group_a: Sequence[CountTable],
    group_b: Sequence[CountTable],
    tasks: Sequence[str] = TASKS,
    samples: int = DEFAULT_SAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> list[Difference]:
    """Group B against group A, each a list of runs (seeds) scored on the same documents.

    A group's score is the mean F1 of its runs. With one run a group the comparison is the
    paired bootstrap of two checkpoints. With a few seeds a group, the seed resampling has few
    distinct draws, so the interval is a rough one.
    """
    _check_level(level)
    if not group_a or not group_b:
        raise ValueError("each group needs at least one run")
    tables = _aligned([*group_a, *group_b])
    runs_a, runs_b = tables[: len(group_a)], tables[len(group_a) :]
    rng = np.random.default_rng(seed)
    weights = _resample_weights(tables[0].num_documents, samples, rng)
    # Each resample also draws each group's runs with replacement; drawn once for all tasks.
    picks_a = rng.integers(0, len(runs_a), size=(samples, len(runs_a)))
    picks_b = rng.integers(0, len(runs_b), size=(samples, len(runs_b)))
    rows = np.arange(samples)[:, None]
    tail = 100 * (1 - level) / 2
    differences = []
    for task in tasks:
        for average in AVERAGES:
            # runs x samples: every run scored on every resample of the documents
            f1_a = 100 * np.stack([table.f1(task, average, weights) for table in runs_a], axis=1)
            f1_b = 100 * np.stack([table.f1(task, average, weights) for table in runs_b], axis=1)
            delta = f1_b[rows, picks_b].mean(axis=1) - f1_a[rows, picks_a].mean(axis=1)
            mean_a = float(np.mean([100 * table.f1(task, average) for table in runs_a]))
            mean_b = float(np.mean([100 * table.f1(task, average) for table in runs_b]))
            observed = mean_b - mean_a
            low, high = np.percentile(delta, [tail, 100 - tail])
            # Shifted to the null hypothesis: how often a difference this far from 0 arises.
            p_value = float(np.mean(np.abs(delta - observed) >= abs(observed) - 1e-12))
            differences.append(
                Difference(task, average, mean_a, mean_b, float(low), float(high), p_value)
            )
    return differences


def format_intervals(intervals: Sequence[Interval], samples: int, level: float) -> str:
    """Lines such as ``RE+ micro F1 61.25 (95% interval 57.81-64.62)``."""
    lines = [f"Bootstrap: {samples} resamples of the documents, {100 * level:g}% intervals"]
    for interval in intervals:
        lines.append(
            f"  {TASK_LABELS[interval.task]:<4} {interval.average:<5} F1 {interval.estimate:6.2f}"
            f"  [{interval.low:6.2f}, {interval.high:6.2f}]"
        )
    return "\n".join(lines)


def format_differences(
    differences: Sequence[Difference], label_a: str, label_b: str, samples: int, level: float
) -> str:
    """A table of B - A per task and average, with the interval and p-value."""
    lines = [
        f"B - A, {samples} paired resamples of the documents, {100 * level:g}% intervals",
        f"  A: {label_a}",
        f"  B: {label_b}",
        f"  {'task':<4} {'avg':<5} {'A':>6} {'B':>6} {'B - A':>6}  {'interval':<17} p",
    ]
    for diff in differences:
        lines.append(
            f"  {TASK_LABELS[diff.task]:<4} {diff.average:<5} {diff.a:6.2f} {diff.b:6.2f}"
            f" {diff.delta:+6.2f}  [{diff.low:+6.2f}, {diff.high:+6.2f}]  {diff.p_value:.3f}"
        )
    return "\n".join(lines)
