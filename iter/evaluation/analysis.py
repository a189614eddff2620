"""Error analysis of a model's predictions (``evaluate.py --analysis``).

Two questions a research user asks when relation scores disappoint:

1. How good is the link step alone? :func:`links_given_gold_entities` runs the link step on
   the gold entities (sub-word positions of the gold spans) and scores its relations.
2. Where do relation errors come from? :func:`relation_errors` files every missed gold
   relation and every wrong predicted one under the first cause that explains it: an entity
   missed altogether, an entity found with wrong boundaries, an entity with the right
   boundaries but the wrong type, a spurious entity, or (both entities right) the link
   itself. :func:`entity_errors` does the same for entities.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from iter.data.collate import iterate_batches
from iter.data.document import Document, Entity, Relation
from iter.evaluation.metrics import EvaluationResult

# The causes, in the order they are tried.
MISSED_ENTITY = "missed entity"
WRONG_BOUNDARY = "wrong boundary"
WRONG_TYPE = "wrong type"
SPURIOUS_ENTITY = "spurious entity"
MISSED_LINK = "missed link"
WRONG_LINK = "wrong link"


@dataclass
class ErrorCounts:
    """Missed gold items (false negatives) and wrong predictions (false positives) by cause."""

    missed: Counter = field(default_factory=Counter)
    wrong: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {"missed": dict(self.missed), "wrong": dict(self.wrong)}


def _entity_cause(entity: Entity, others: Sequence[Entity], absent: str) -> str | None:
    """Why ``entity`` has no exact match among ``others`` (None: it has one)."""
    if entity in others:
        return None
    if any(o.span == entity.span for o in others):
        return WRONG_TYPE
    if any(o.overlaps(entity) for o in others):
        return WRONG_BOUNDARY
    return absent


def entity_errors(gold: Sequence[Document], predicted: Sequence[Document]) -> ErrorCounts:
    """Entity errors: missed / wrong boundary / wrong type, and spurious predictions."""
    counts = ErrorCounts()
    for g, p in zip(gold, predicted, strict=True):
        for entity in g.entities:
            cause = _entity_cause(entity, p.entities, MISSED_ENTITY)
            if cause:
                counts.missed[cause] += 1
        for entity in p.entities:
            cause = _entity_cause(entity, g.entities, SPURIOUS_ENTITY)
            if cause:
                counts.wrong[cause] += 1
    return counts


def _relation_key(relation: Relation, symmetric: frozenset[str]) -> Relation:
    return relation.canonical(relation.type in symmetric)


def relation_errors(
    gold: Sequence[Document],
    predicted: Sequence[Document],
    symmetric_relation_types: Sequence[str] = (),
) -> ErrorCounts:
    """RE+ (strict) errors by cause.

    A missed gold relation is filed under its entities' first problem (missed entity, wrong
    boundary, wrong type, checked head first); when both were predicted exactly, under
    "missed link" (no link, or one of another type or direction). A wrong predicted relation
    is filed under its entities' first problem (spurious entity, wrong boundary, wrong type);
    when both are gold entities, under "wrong link".
    """
    symmetric = frozenset(symmetric_relation_types)
    counts = ErrorCounts()
    for g, p in zip(gold, predicted, strict=True):
        gold_relations = {_relation_key(r, symmetric) for r in g.relations}
        predicted_relations = {_relation_key(r, symmetric) for r in p.relations}
        for relation in gold_relations - predicted_relations:
            cause = _entity_cause(relation.head, p.entities, MISSED_ENTITY) or _entity_cause(
                relation.tail, p.entities, MISSED_ENTITY
            )
            counts.missed[cause or MISSED_LINK] += 1
        for relation in predicted_relations - gold_relations:
            cause = _entity_cause(relation.head, g.entities, SPURIOUS_ENTITY) or _entity_cause(
                relation.tail, g.entities, SPURIOUS_ENTITY
            )
            counts.wrong[cause or WRONG_LINK] += 1
    return counts


@torch.no_grad()
def links_given_gold_entities(
    model,
    documents: Sequence[Document],
    batch_size: int = 32,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> EvaluationResult:
    """Scores of the link step run on the gold entities (entity scores are then perfect).

    Each segment's gold spans are given to the link step at their sub-word positions; its
    relations are scored against the gold ones (RE and RE+ coincide, the entities being
    gold). Gold entities that a window boundary cuts are not linked, as in normal decoding.
    """
    from iter.evaluation.runner import score_predictions
    from iter.inference.documents import encode_for_model, to_word_annotations
    from iter.modeling.decoding import SentenceDecoding, decode_links

    config = model.config
    if model.link_head is None:
        raise ValueError("the model predicts entities only: it has no link step to analyse")
    segments = encode_for_model(model, documents)
    found: list[set[Relation]] = [set() for _ in documents]
    was_training = model.training
    model.eval()
    device = model.device
    symmetric = (
        model.symmetric_relation_mask(device) if config.symmetric_relation_types else None
    )
    try:
        for batch in iterate_batches(segments, batch_size, model.tokenizer.pad_token_id):
            with autocast():
                hidden = model.encode(
                    batch.input_ids.to(device), batch.attention_mask.to(device)
                )
                spans = batch.gold_spans.to(device)
                sentences = [
                    SentenceDecoding(spans=[(s, e, t, 1.0) for s, e, t in row[mask].tolist()])
                    for row, mask in zip(batch.gold_spans, batch.gold_span_mask, strict=True)
                ]
                if spans.size(1) > 1:
                    logits = model.link_logits(hidden, spans, batch.gold_span_mask.to(device))
                    decode_links(
                        logits,
                        batch.gold_span_mask.to(device),
                        symmetric,
                        config.link_threshold,
                        sentences,
                    )
            for row, sentence in enumerate(sentences):
                _, relations = to_word_annotations(
                    batch, row, sentence, config.entity_types, config.relation_types
                )
                found[batch.doc_index[row]].update(relations)
    finally:
        model.train(was_training)
    predicted = [
        doc.with_annotations(doc.entities, tuple(sorted(relations)))
        for doc, relations in zip(documents, found, strict=True)
    ]
    return score_predictions(model, documents, predicted)


def format_errors(entities: ErrorCounts, relations: ErrorCounts) -> str:
    """A plain-text table of the error counts."""
    lines = ["Errors by cause"]
    for title, counts in (("entities", entities), ("relations (RE+)", relations)):
        lines.append(f"  {title}")
        for side, label in (("missed", "missed gold"), ("wrong", "wrong predicted")):
            counter = getattr(counts, side)
            total = sum(counter.values())
            parts = ", ".join(f"{cause} {n}" for cause, n in counter.most_common())
            lines.append(f"    {label:<16} {total:>5}: {parts or '-'}")
    return "\n".join(lines)
