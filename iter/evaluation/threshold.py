"""Choosing the link threshold on held-out data.

A link fires where its probability exceeds ``config.link_threshold`` (0.5, the authors'
value). A run stopped early, with much of its learning rate left, scores links too low: on
such a CoNLL04 checkpoint (MiniLM, 100-epoch schedule) dev chose 0.03 and test RE+ rose by
1.0, by 2.0 under the signature constraint (benchmarks/ablation/README.md, "Low link
thresholds"); after a schedule that decays to zero, dev keeps 0.5.

:func:`search_link_threshold` decodes the documents once, at the lowest threshold of the
grid, and scores every threshold of the grid by dropping the links at or below it: a link's
recorded probability is exactly the one decoding compares (for symmetric types the larger of
the two directions, over windows the largest), so this gives the same predictions as
decoding at each threshold, for one decoding.

The chosen threshold maximises the score averaged with its neighbours on the grid: a dev
set of a few hundred relations moves RE+ by 0.2-0.4 points per relation, and a lone peak
is more likely noise than a better threshold.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from iter.data.document import Document
from iter.evaluation.metrics import EvaluationResult
from iter.evaluation.runner import score_predictions
from iter.inference.documents import (
    Autocast,
    ScoredAnnotations,
    predict_scored,
    with_predictions,
)
from iter.modeling.model import ITERForRelationExtraction

#: The thresholds tried by default: 0.01, 0.02, 0.03, then 0.05, 0.10, ..., 0.95 (the low
#: end is where an early-stopped run's links lie).
DEFAULT_GRID: tuple[float, ...] = (0.01, 0.02, 0.03, *(round(0.05 * i, 2) for i in range(1, 20)))


@dataclass(frozen=True)
class ThresholdSearch:
    """What :func:`search_link_threshold` found: the chosen threshold, the model's
    threshold before, and the score (0..1) and smoothed score at every grid point."""

    threshold: float
    previous: float
    scores: dict[float, float]
    smoothed: dict[float, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "previous": self.previous,
            "scores": {f"{t:.2f}": s for t, s in self.scores.items()},
            "smoothed": {f"{t:.2f}": s for t, s in self.smoothed.items()},
        }

    def format(self, label: str = "score") -> str:
        """One line per threshold, the chosen one marked."""
        lines = [f"link threshold   {label:>8}   smoothed"]
        for t, score in self.scores.items():
            mark = "  <- chosen" if t == self.threshold else ""
            mark += "  (before)" if t == self.previous else ""
            lines.append(f"{t:14.2f}   {100 * score:8.2f}   {100 * self.smoothed[t]:8.2f}{mark}")
        return "\n".join(lines)


def check_grid(grid: Sequence[float]) -> tuple[float, ...]:
    """The grid sorted, each threshold a probability in (0, 1); raises ValueError."""
    if not grid:
        raise ValueError("the link threshold grid is empty")
    for t in grid:
        if not 0 < t < 1:
            raise ValueError(f"link thresholds must be in (0, 1), got {t}")
    return tuple(sorted(set(float(t) for t in grid)))


def smooth(scores: Sequence[float]) -> list[float]:
    """Each score averaged with its neighbours (one on each side, fewer at the ends)."""
    out = []
    for i in range(len(scores)):
        window = scores[max(0, i - 1) : i + 2]
        out.append(sum(window) / len(window))
    return out


def choose(grid: Sequence[float], smoothed: Sequence[float], previous: float) -> float:
    """The grid point of the best smoothed score; on a tie, the one nearest ``previous``."""
    best = max(smoothed)
    # A tie is broken towards the threshold the model had, so that nothing changes unless
    # a threshold is strictly better.
    tied = [t for t, s in zip(grid, smoothed, strict=True) if s == best]
    return min(tied, key=lambda t: (abs(t - previous), t))


def filter_links(
    scored: ScoredAnnotations, threshold: float | Mapping[str, float]
) -> ScoredAnnotations:
    """The predictions with only the links whose probability exceeds ``threshold`` (one for
    all relation types, or one per type)."""
    if isinstance(threshold, Mapping):
        kept = {r: p for r, p in scored.relations.items() if p > threshold[r.type]}
    else:
        kept = {r: p for r, p in scored.relations.items() if p > threshold}
    return ScoredAnnotations(entities=scored.entities, relations=kept)


def search_link_threshold(
    model: ITERForRelationExtraction,
    documents: Sequence[Document],
    score: Callable[[EvaluationResult], float],
    grid: Sequence[float] = DEFAULT_GRID,
    batch_size: int = 32,
    autocast: Autocast = contextlib.nullcontext,
    segments: Sequence[dict] | None = None,
    progress: Callable | None = None,
) -> ThresholdSearch:
    """Score every link threshold of ``grid`` on ``documents`` (with gold annotations) by
    ``score`` (for example the dataset's selection score); the model is not changed."""
    if model.link_head is None:
        raise ValueError("the model predicts no links: there is no link threshold to choose")
    grid = check_grid(grid)
    scored = predict_scored(
        model, documents, batch_size, autocast, segments, progress, link_threshold=grid[0]
    )
    scores = []
    for t in grid:
        predictions = [
            with_predictions(doc, filter_links(s, t))
            for doc, s in zip(documents, scored, strict=True)
        ]
        scores.append(score(score_predictions(model, documents, predictions)))
    smoothed = smooth(scores)
    previous = float(model.config.link_threshold)
    return ThresholdSearch(
        threshold=choose(grid, smoothed, previous),
        previous=previous,
        scores=dict(zip(grid, scores, strict=True)),
        smoothed=dict(zip(grid, smoothed, strict=True)),
    )
