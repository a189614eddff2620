"""Strict NER, RE (boundaries) and RE+ (strict) scores over aligned gold / predicted documents.

- NER: a predicted entity is correct when its boundaries and its type match a gold entity.
- RE (boundaries): a relation is correct when its type and both spans' boundaries match; the
  entities' types are ignored.
- RE+ (strict): additionally both entities' types match.

Each document is compared as a set of items, so an item listed twice in one document counts
once. Relations of a symmetric type are compared as unordered pairs: a prediction in either
direction matches the gold relation, and one predicted in both directions counts once.

Macro averages are the unweighted means of the per-type precision, recall and F1 over every
type in ``per_type``: the known types passed to :func:`evaluate` (in that order), followed by
any other type seen in the gold or predicted documents (sorted). A known type that occurs in
neither has precision, recall and F1 of 0 and so lowers the macro average, as sklearn's
``zero_division=0`` does in the usual SpERT-style evaluation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from iter.data.document import Document, Entity, Relation
from iter.tasks import AVERAGES, TASKS


@dataclass(frozen=True)
class Score:
    """True positive, false positive and false negative counts, with P, R, F1 in 0..1."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __post_init__(self) -> None:
        # Negative counts can only come from a bug upstream; fail where it is visible.
        for name in ("tp", "fp", "fn"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Score.{name} must be a non-negative int, got {value!r}")

    @property
    def precision(self) -> float:
        predicted = self.tp + self.fp
        return self.tp / predicted if predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.support if self.support else 0.0

    @property
    def f1(self) -> float:
        # 2tp / (2tp + fp + fn) equals 2PR / (P + R) and avoids the rounding of two divisions.
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    @property
    def support(self) -> int:
        """The number of gold items."""
        return self.tp + self.fn

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_dict(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "support": self.support,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Score:
        """Rebuilds a score from :meth:`to_dict` output (the counts alone decide it)."""
        return cls(int(data["tp"]), int(data["fp"]), int(data["fn"]))


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


@dataclass
class TaskScores:
    """One task's scores: a row per type, their micro sum and their macro (unweighted) mean."""

    per_type: dict[str, Score]
    micro: Score

    @classmethod
    def from_per_type(cls, per_type: Mapping[str, Score]) -> TaskScores:
        """Micro counts are the sum of the rows, so the table and the total always agree."""
        micro = sum(per_type.values(), Score())
        return cls(dict(per_type), micro)

    # Macro values are computed on access, so they cannot go stale if ``per_type`` is edited.
    @property
    def macro_precision(self) -> float:
        return _mean(score.precision for score in self.per_type.values())

    @property
    def macro_recall(self) -> float:
        return _mean(score.recall for score in self.per_type.values())

    @property
    def macro_f1(self) -> float:
        return _mean(score.f1 for score in self.per_type.values())

    def precision(self, average: str) -> float:
        _check_average(average)
        return self.micro.precision if average == "micro" else self.macro_precision

    def recall(self, average: str) -> float:
        _check_average(average)
        return self.micro.recall if average == "micro" else self.macro_recall

    def f1(self, average: str) -> float:
        _check_average(average)
        return self.micro.f1 if average == "micro" else self.macro_f1

    def to_dict(self) -> dict[str, object]:
        return {
            "micro": self.micro.to_dict(),
            "macro": {
                "precision": self.macro_precision,
                "recall": self.macro_recall,
                "f1": self.macro_f1,
            },
            "per_type": {name: score.to_dict() for name, score in self.per_type.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TaskScores:
        per_type = {name: Score.from_dict(row) for name, row in data["per_type"].items()}
        return cls(per_type, Score.from_dict(data["micro"]))


def _check_average(average: str) -> None:
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")


@dataclass
class EvaluationResult:
    """NER, RE (boundaries) and RE+ (strict) scores over ``num_documents`` documents."""

    ner: TaskScores
    re: TaskScores
    re_plus: TaskScores
    num_documents: int

    def task(self, name: str) -> TaskScores:
        """The scores of ``name``, one of ``ner``, ``re``, ``re_plus``."""
        if name not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {name!r}")
        return getattr(self, name)

    def main_f1(self, task: str, average: str = "micro") -> float:
        """The F1 (0..1) that selects checkpoints and that the model card reports."""
        return self.task(task).f1(average)

    def to_dict(self) -> dict[str, object]:
        """Raw fractions (0..1) and counts; JSON-ready."""
        return {
            "num_documents": self.num_documents,
            **{name: self.task(name).to_dict() for name in TASKS},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> EvaluationResult:
        tasks = {name: TaskScores.from_dict(data[name]) for name in TASKS}
        return cls(num_documents=int(data["num_documents"]), **tasks)


# An item is (key, type): the key identifies it within a document, the type picks its row.
Item = tuple[Hashable, str]


def _entity_items(entities: Iterable[Entity]) -> set[Item]:
    return {((entity.start, entity.end, entity.type), entity.type) for entity in entities}


def _relation_items(
    relations: Iterable[Relation], symmetric: Collection[str], strict: bool
) -> set[Item]:
    items: set[Item] = set()
    for relation in relations:
        is_symmetric = relation.type in symmetric
        canonical = relation.canonical(is_symmetric)
        head: tuple = (canonical.head.start, canonical.head.end)
        tail: tuple = (canonical.tail.start, canonical.tail.end)
        if strict:
            head += (canonical.head.type,)
            tail += (canonical.tail.type,)
            if is_symmetric:
                # canonical() orders by span only; two entities on one span with different
                # types would keep their given order, so order them fully here.
                head, tail = min(head, tail), max(head, tail)
        items.add(((relation.type, head, tail), relation.type))
    return items


def _score_task(
    gold: Sequence[set[Item]], predicted: Sequence[set[Item]], known_types: Sequence[str] | None
) -> TaskScores:
    counts: dict[str, Counter[str]] = {"tp": Counter(), "fp": Counter(), "fn": Counter()}
    for gold_items, predicted_items in zip(gold, predicted, strict=True):
        for kind, items in (
            ("tp", gold_items & predicted_items),
            ("fp", predicted_items - gold_items),
            ("fn", gold_items - predicted_items),
        ):
            counts[kind].update(item_type for _, item_type in items)
    seen = set(counts["tp"]) | set(counts["fp"]) | set(counts["fn"])
    # Known types keep their given order; types outside that list still get a row, so that
    # the rows always add up to the micro score.
    types = list(dict.fromkeys(known_types or ()))
    types += sorted(seen - set(types))
    per_type = {
        name: Score(counts["tp"][name], counts["fp"][name], counts["fn"][name]) for name in types
    }
    return TaskScores.from_per_type(per_type)


def _check_aligned(gold: Sequence[Document], predicted: Sequence[Document]) -> None:
    if len(gold) != len(predicted):
        raise ValueError(
            f"{len(gold)} gold documents but {len(predicted)} predicted ones: "
            "they are aligned by position and must be as many"
        )
    for index, (gold_doc, predicted_doc) in enumerate(zip(gold, predicted, strict=True)):
        if gold_doc.tokens != predicted_doc.tokens:
            name = f" (id {gold_doc.id})" if gold_doc.id is not None else ""
            raise ValueError(f"document {index}{name}: gold and predicted tokens differ")


def evaluate(
    gold: Sequence[Document],
    predicted: Sequence[Document],
    symmetric_relation_types: Collection[str] = (),
    entity_types: Sequence[str] | None = None,
    relation_types: Sequence[str] | None = None,
) -> EvaluationResult:
    """Score ``predicted`` against ``gold``, aligned by position.

    ``entity_types`` / ``relation_types`` are the known types: each gets a row (and a place in
    the macro average) even where no document mentions it. Raises ``ValueError`` when the two
    sequences differ in length or a pair of documents differs in its tokens.
    """
    if isinstance(symmetric_relation_types, str):
        # A bare string would make ``in`` test substrings: "Compare" would match "Comp".
        raise TypeError("symmetric_relation_types must be a collection of names, not a string")
    gold, predicted = list(gold), list(predicted)
    _check_aligned(gold, predicted)
    symmetric = frozenset(symmetric_relation_types)
    ner = _score_task(
        [_entity_items(doc.entities) for doc in gold],
        [_entity_items(doc.entities) for doc in predicted],
        entity_types,
    )
    re = _score_task(
        [_relation_items(doc.relations, symmetric, strict=False) for doc in gold],
        [_relation_items(doc.relations, symmetric, strict=False) for doc in predicted],
        relation_types,
    )
    re_plus = _score_task(
        [_relation_items(doc.relations, symmetric, strict=True) for doc in gold],
        [_relation_items(doc.relations, symmetric, strict=True) for doc in predicted],
        relation_types,
    )
    return EvaluationResult(ner=ner, re=re, re_plus=re_plus, num_documents=len(gold))
