"""Scoring a model on documents: predict, then compare with the gold annotations (during
training, in evaluate.py and in the analysis)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from iter.data.document import Document
from iter.evaluation.metrics import EvaluationResult, evaluate
from iter.inference.documents import predict_documents, predict_scored, with_predictions
from iter.modeling.model import ITERForRelationExtraction

if TYPE_CHECKING:
    from iter.runtime.distributed import DistributedContext

logger = logging.getLogger(__name__)


def score_model(
    model: ITERForRelationExtraction,
    documents: Sequence[Document],
    batch_size: int = 32,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    segments: Sequence[dict] | None = None,
    progress: Callable | None = None,
) -> tuple[EvaluationResult, list[Document]]:
    """Predict ``documents`` and score the predictions against their gold annotations."""
    predictions = predict_documents(model, documents, batch_size, autocast, segments, progress)
    return score_predictions(model, documents, predictions), predictions


def score_predictions(
    model: ITERForRelationExtraction,
    documents: Sequence[Document],
    predictions: Sequence[Document],
) -> EvaluationResult:
    """Metrics of ``predictions`` against ``documents`` with the model's types."""
    config = model.config
    return evaluate(
        documents,
        predictions,
        symmetric_relation_types=config.symmetric_relation_types,
        entity_types=config.entity_types,
        relation_types=config.relation_types,
    )


def predict_distributed(
    model: ITERForRelationExtraction,
    documents: Sequence[Document],
    segments: Sequence[dict],
    context: DistributedContext,
    batch_size: int = 32,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    progress: Callable | None = None,
) -> list[Document]:
    """The predicted ``documents``, with the decoding split across the ranks of ``context``.

    Each rank decodes the documents it owns (every ``world_size``-th one, all windows of a
    document on the same rank); the predictions are gathered, so every rank gets all
    documents' predictions, as one process would.
    """
    if not context.enabled:
        return predict_documents(model, documents, batch_size, autocast, segments, progress)
    mine = [segment for segment in segments if context.owns(segment["doc_index"])]
    scored = predict_scored(model, documents, batch_size, autocast, mine, progress)
    owned = {i: scored[i] for i in range(len(documents)) if context.owns(i)}
    merged: dict = {}
    for part in context.gather(owned):
        merged.update(part)
    return [with_predictions(doc, merged[i]) for i, doc in enumerate(documents)]

