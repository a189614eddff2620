"""Scoring a model on documents, and a saved checkpoint on a dataset split (evaluate.py)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from iter.data.document import Document
from iter.data.reader import write_documents
from iter.errors import CheckpointError, ConfigError
from iter.evaluation.metrics import EvaluationResult, evaluate
from iter.evaluation.report import format_report, write_metrics_json
from iter.inference.documents import predict_documents, predict_scored, with_predictions
from iter.modeling.model import ITERForRelationExtraction

if TYPE_CHECKING:
    from iter.training.distributed import DistributedContext

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


def score_model_distributed(
    model: ITERForRelationExtraction,
    documents: Sequence[Document],
    segments: Sequence[dict],
    context: DistributedContext,
    batch_size: int = 32,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    progress: Callable | None = None,
) -> EvaluationResult:
    """:func:`score_model` with the decoding split across the ranks of ``context``.

    Each rank decodes the documents it owns (every ``world_size``-th one, all windows of a
    document on the same rank); the predictions are gathered, and every rank scores all
    documents, so each gets the result one process would.
    """
    if not context.enabled:
        return score_model(model, documents, batch_size, autocast, segments, progress)[0]
    mine = [segment for segment in segments if context.owns(segment["doc_index"])]
    scored = predict_scored(model, documents, batch_size, autocast, mine, progress)
    owned = {i: scored[i] for i in range(len(documents)) if context.owns(i)}
    merged: dict = {}
    for part in context.gather(owned):
        merged.update(part)
    predictions = [with_predictions(doc, merged[i]) for i, doc in enumerate(documents)]
    return score_predictions(model, documents, predictions)


def check_types_match(model: ITERForRelationExtraction, spec) -> None:
    """A checkpoint can only be scored on a dataset whose types it was trained for."""
    config = model.config
    for kind, ours, theirs in (
        ("entity", config.entity_types, spec.entity_types),
        ("relation", config.relation_types, spec.relation_types),
    ):
        missing = sorted(set(theirs) - set(ours))
        if missing:
            raise CheckpointError(
                f"the model was trained for {kind} types {list(ours)}, but dataset "
                f"{spec.name} has {missing} besides"
            )


def _analyse(
    model: ITERForRelationExtraction,
    documents: Sequence[Document],
    predicted: Sequence[Document],
    batch_size: int,
    autocast: Callable[[], contextlib.AbstractContextManager],
) -> dict[str, object]:
    """Prints and returns the error analysis (``evaluate.py --analysis``)."""
    from iter.evaluation.analysis import (
        entity_errors,
        format_errors,
        links_given_gold_entities,
        relation_errors,
    )

    entities = entity_errors(documents, predicted)
    relations = relation_errors(documents, predicted, model.config.symmetric_relation_types)
    print(format_errors(entities, relations))
    out: dict[str, object] = {
        "entity_errors": entities.to_dict(),
        "relation_errors": relations.to_dict(),
    }
    if model.link_head is not None:
        given = links_given_gold_entities(model, documents, batch_size, autocast)
        score = given.re_plus.micro
        print(
            f"Links given the gold entities: P {100 * score.precision:.2f}  "
            f"R {100 * score.recall:.2f}  F1 {100 * score.f1:.2f} (micro), "
            f"macro F1 {100 * given.re_plus.macro_f1:.2f}"
        )
        out["links_given_gold_entities"] = given.re_plus.to_dict()
    return out


def evaluate_checkpoint(
    model_dir: Path,
    dataset: str | None,
    split: str,
    data_dir: str | None = None,
    output: Path | None = None,
    predictions: Path | None = None,
    batch_size: int = 32,
    device: str = "auto",
    precision: str = "fp32",
    analysis: bool = False,
) -> EvaluationResult:
    import iter.config  # noqa: F401  (registers the config resolvers)
    from iter.data.registry import load_dataset_spec
    from iter.inference.loading import load_model
    from iter.training.precision import resolve_device, resolve_precision

    if batch_size < 1:
        raise ConfigError(f"--batch_size must be >= 1, got {batch_size}")
    torch_device = resolve_device(device)
    numeric = resolve_precision(precision, torch_device)
    model = load_model(model_dir, str(torch_device))
    name = dataset or model.config.dataset
    if not name:
        raise CheckpointError(f"{model_dir}: the model does not name its dataset; pass --dataset")
    overrides = [f"dataset.data_dir={data_dir}"] if data_dir else []
    spec = load_dataset_spec(name, overrides)
    check_types_match(model, spec)
    documents = spec.read(split)
    from tqdm.auto import tqdm

    result, predicted = score_model(
        model,
        documents,
        batch_size,
        numeric.autocast(),
        progress=lambda it, total: tqdm(it, total=total, desc=f"{name}/{split}", leave=False),
    )
    print(format_report(result, title=f"{model_dir} on {name}/{split}"))
    extra: dict[str, object] = {
        "model": str(model_dir), "dataset": name, "split": split, "precision": precision,
    }  # fmt: skip
    if analysis:
        extra["analysis"] = _analyse(model, documents, predicted, batch_size, numeric.autocast())
    output = output or Path(model_dir) / f"eval-{name}-{split}.json"
    write_metrics_json(output, result, extra=extra)
    print(f"metrics: {output}")
    if predictions is not None:
        write_documents(predicted, predictions)
        print(f"predictions: {predictions}")
    return result
