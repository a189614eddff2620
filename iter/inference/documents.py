"""Predicting annotations for word-tokenized documents (evaluation and batch inference).

This layer sits between the data and the model: it knows a model only as a
:class:`Decoder` (its types, tokenizer and ``decode``), so the model's own ``predict`` can
be built on it without an import running back up.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from iter.data.collate import Batch, iterate_batches
from iter.data.document import Document, Entity, Relation
from iter.data.encoding import encode_segments

logger = logging.getLogger(__name__)

Autocast = Callable[[], contextlib.AbstractContextManager]


class SpanLinkDecoding(Protocol):
    """One segment's decoding at sub-word positions (``iter.modeling.decoding``)."""

    spans: list[tuple[int, int, int, float]]  # (start, end inclusive, type id, score)
    links: list[tuple[int, int, int, float]]  # (head span, tail span, relation id, probability)


class Decoder(Protocol):
    """What prediction needs of a model (``ITERForRelationExtraction`` is one)."""

    config: Any  # entity_types, relation_types, max_sequence_length
    tokenizer: Any
    training: bool

    @property
    def device(self) -> torch.device: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...

    def decode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        start_mask: torch.Tensor,
        end_mask: torch.Tensor,
        link_threshold: float | None = None,
    ) -> list[SpanLinkDecoding]: ...


@dataclass
class ScoredAnnotations:
    """One document's predictions with their confidences (windows merged)."""

    entities: dict[Entity, float] = field(default_factory=dict)
    relations: dict[Relation, float] = field(default_factory=dict)

    def add(
        self, entity_scores: dict[Entity, float], relation_scores: dict[Relation, float]
    ) -> None:
        for store, found in ((self.entities, entity_scores), (self.relations, relation_scores)):
            for key, score in found.items():
                store[key] = max(score, store.get(key, 0.0))


def to_word_annotations(
    batch: Batch,
    row: int,
    decoding: SpanLinkDecoding,
    entity_types: Sequence[str],
    relation_types: Sequence[str],
) -> tuple[dict[Entity, float], dict[Relation, float]]:
    """Map one segment's sub-word predictions to scored word spans of its document."""
    offset = batch.word_offset[row]
    word_of_start = {pos: offset + w for w, pos in enumerate(batch.start_positions[row])}
    word_of_end = {pos: offset + w for w, pos in enumerate(batch.end_positions[row])}
    entities = [
        (Entity(word_of_start[s], word_of_end[e] + 1, entity_types[t]), score)
        for s, e, t, score in decoding.spans
    ]
    relations = {
        Relation(entities[h][0], entities[t][0], relation_types[r]): p
        for h, t, r, p in decoding.links
    }
    return dict(entities), relations


def encode_for_model(model: Decoder, documents: Sequence[Document]) -> list[dict]:
    """Segments of ``documents`` for this model, logging what windowing had to do."""
    config = model.config
    segments, report = encode_segments(
        documents,
        model.tokenizer,
        config.entity_types,
        config.relation_types,
        config.max_sequence_length,
    )
    message = report.describe(config.max_sequence_length)
    if message:
        logger.warning(message)
    return segments


@torch.no_grad()
def predict_scored(
    model: Decoder,
    documents: Sequence[Document],
    batch_size: int = 32,
    autocast: Autocast = contextlib.nullcontext,
    segments: Sequence[dict] | None = None,
    progress: Callable | None = None,
    link_threshold: float | None = None,
) -> list[ScoredAnnotations]:
    """Scored predictions per document; ``segments`` reuses an earlier encoding of them;
    ``link_threshold`` overrides the model's (the probability a link must exceed)."""
    if segments is None:
        segments = encode_for_model(model, documents)
    config = model.config
    results = [ScoredAnnotations() for _ in documents]
    for batch, decodings in _decode(
        model, segments, batch_size, autocast, progress, link_threshold
    ):
        for row, decoding in enumerate(decodings):
            found = to_word_annotations(
                batch, row, decoding, config.entity_types, config.relation_types
            )
            results[batch.doc_index[row]].add(*found)
    return results


def _decode(
    model: Decoder,
    segments: Sequence[dict],
    batch_size: int,
    autocast: Autocast,
    progress: Callable | None,
    link_threshold: float | None = None,
) -> Iterator[tuple[Batch, list[SpanLinkDecoding]]]:
    was_training = model.training
    model.eval()
    device = model.device
    batches = iterate_batches(segments, batch_size, model.tokenizer.pad_token_id)
    if progress is not None:
        batches = progress(batches, total=-(-len(segments) // batch_size))
    try:
        for batch in batches:
            with autocast():
                decodings = model.decode(
                    batch.input_ids.to(device),
                    batch.attention_mask.to(device),
                    batch.start_mask.to(device),
                    batch.end_mask.to(device),
                    link_threshold=link_threshold,
                )
            yield batch, decodings
    finally:
        model.train(was_training)


def predict_documents(
    model: Decoder,
    documents: Sequence[Document],
    batch_size: int = 32,
    autocast: Autocast = contextlib.nullcontext,
    segments: Sequence[dict] | None = None,
    progress: Callable | None = None,
) -> list[Document]:
    """The documents with predicted entities and relations in place of their gold ones."""
    scored = predict_scored(model, documents, batch_size, autocast, segments, progress)
    return [with_predictions(doc, s) for doc, s in zip(documents, scored, strict=True)]


def with_predictions(document: Document, scored: ScoredAnnotations) -> Document:
    """``document`` with the predicted annotations in place of its gold ones."""
    return document.with_annotations(
        tuple(sorted(scored.entities)), tuple(sorted(scored.relations))
    )
