"""``evaluate.py`` / ``iter evaluate``: score a saved checkpoint on a dataset split.

Prints the NER / RE / RE+ table and writes the metrics JSON (and, on request, the predicted
documents and an error analysis). The command layer: it loads the checkpoint and the
dataset, and calls the evaluation layer to score.

python3 evaluate.py --model outputs/runs/.../checkpoint-best [--dataset conll04] [--split test]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from iter.cli.errors import user_errors
from iter.errors import CheckpointError, ConfigError

# --compare's resamples when --bootstrap does not say (iter.evaluation.bootstrap's default;
# written here so that --help does not import numpy).
DEFAULT_RESAMPLES = 1000

if TYPE_CHECKING:  # the heavy modules (torch, transformers) load once a command runs
    from iter.data.document import Document
    from iter.evaluation.metrics import EvaluationResult
    from iter.modeling.model import ITERForRelationExtraction


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


def _tune(
    model: ITERForRelationExtraction,
    spec,
    split: str,
    batch_size: int,
    autocast: Callable[[], contextlib.AbstractContextManager],
) -> dict[str, object]:
    """Choose the link threshold on dev (``--tune_link_threshold``); sets it on ``model``."""
    from iter.evaluation.threshold import search_link_threshold
    from iter.training.run import selection_score

    if model.link_head is None:
        raise CheckpointError("--tune_link_threshold: the model predicts no links")
    search = search_link_threshold(
        model,
        spec.read(spec.dev_split),
        selection_score(spec),
        batch_size=batch_size,
        autocast=autocast,
    )
    label = f"{spec.selection_metric} {spec.metric_average}"
    print(f"link threshold on {spec.name}/{spec.dev_split} ({label} F1):")
    print(search.format(spec.dev_split))
    if split == spec.dev_split:
        print(f"note: {split} chose the threshold, so its scores below are optimistic")
    model.config.link_threshold = search.threshold
    return search.to_dict()


def _other_predictions(
    other: Path,
    documents: Sequence[Document],
    spec,
    device: str,
    batch_size: int,
    autocast: Callable[[], contextlib.AbstractContextManager],
) -> list[Document]:
    """``--compare``'s predictions: a checkpoint folder's, or a predictions file's (as
    ``--predictions`` writes them) holding the same documents in the same order."""
    if other.is_dir():
        from iter.evaluation.runner import score_model
        from iter.modeling.loading import load_model

        model = load_model(other, device)
        check_types_match(model, spec)
        return score_model(model, documents, batch_size, autocast)[1]
    from iter.evaluation.bootstrap import read_predictions

    return read_predictions(other, documents)


def _significance(
    model: ITERForRelationExtraction,
    spec,
    documents: Sequence[Document],
    predicted: Sequence[Document],
    samples: int,
    labels: tuple[str, str],
    other: Sequence[Document] | None,
) -> dict[str, object]:
    """Prints and returns the bootstrap intervals (``--bootstrap``) and, given the other
    model's predictions (``--compare``), the paired difference other - this."""
    from iter.evaluation.bootstrap import (
        DEFAULT_LEVEL,
        compare,
        confidence_intervals,
        count_table,
        format_differences,
        format_intervals,
    )
    from iter.tasks import tasks_of

    config = model.config
    tasks = tasks_of(bool(spec.relation_types))

    def table(predictions: Sequence[Document]):
        return count_table(documents, predictions, config.symmetric_relation_types,
                           config.entity_types, config.relation_types)  # fmt: skip

    samples = samples or DEFAULT_RESAMPLES  # --compare without --bootstrap
    mine = table(predicted)
    intervals = confidence_intervals(mine, tasks, samples)
    print(format_intervals(intervals, samples, DEFAULT_LEVEL))
    out: dict[str, object] = {
        "bootstrap": {
            "samples": samples,
            "level": DEFAULT_LEVEL,
            "intervals": [interval.to_dict() for interval in intervals],
        }
    }
    if other is not None:
        differences = compare([mine], [table(other)], tasks, samples)
        print(format_differences(differences, *labels, samples, DEFAULT_LEVEL))
        out["comparison"] = {
            "a": labels[0],
            "b": labels[1],
            "samples": samples,
            "level": DEFAULT_LEVEL,
            "differences": [difference.to_dict() for difference in differences],
        }
    return out


def _check_options(
    batch_size: int,
    link_threshold: float | None,
    tune_link_threshold: bool,
    bootstrap: int,
    compare_with: Path | None,
) -> None:
    """Options that cannot work stop here, before a model is loaded."""
    if batch_size < 1:
        raise ConfigError(f"--batch_size must be >= 1, got {batch_size}")
    if link_threshold is not None and not 0 < link_threshold < 1:
        raise ConfigError(f"--link_threshold must be in (0, 1), got {link_threshold}")
    if link_threshold is not None and tune_link_threshold:
        raise ConfigError("--link_threshold and --tune_link_threshold exclude each other")
    if bootstrap < 0:
        raise ConfigError(f"--bootstrap must be >= 0 resamples, got {bootstrap}")
    if compare_with is not None and not compare_with.exists():
        raise ConfigError(
            f"--compare {compare_with}: no such checkpoint folder or predictions file"
        )


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
    link_threshold: float | None = None,
    tune_link_threshold: bool = False,
    bootstrap: int = 0,
    compare_with: Path | None = None,
) -> EvaluationResult:
    """Score the checkpoint in ``model_dir`` on ``split`` of its (or the named) dataset.

    ``link_threshold`` replaces the checkpoint's; ``tune_link_threshold`` chooses it on the
    dataset's dev split first (``iter.evaluation.threshold``). The checkpoint is not changed.
    ``bootstrap`` resamples the documents that many times for intervals of the scores;
    ``compare_with`` (a checkpoint folder or a predictions file) adds the paired difference.
    """
    import iter.config  # noqa: F401  (registers the config resolvers)
    from iter.data.reader import write_documents
    from iter.data.registry import load_dataset_spec
    from iter.evaluation.report import format_report, write_metrics_json
    from iter.evaluation.runner import score_model
    from iter.modeling.loading import load_model
    from iter.runtime.precision import resolve_device, resolve_precision

    _check_options(batch_size, link_threshold, tune_link_threshold, bootstrap, compare_with)
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

    extra: dict[str, object] = {}
    if tune_link_threshold:
        extra["link_threshold_search"] = _tune(model, spec, split, batch_size, numeric.autocast())
    elif link_threshold is not None:
        model.config.link_threshold = link_threshold

    result, predicted = score_model(
        model,
        documents,
        batch_size,
        numeric.autocast(),
        progress=lambda it, total: tqdm(it, total=total, desc=f"{name}/{split}", leave=False),
    )
    print(format_report(result, title=f"{model_dir} on {name}/{split}"))
    extra = {
        "model": str(model_dir), "dataset": name, "split": split, "precision": precision,
        "link_threshold": model.config.link_threshold, **extra,
    }  # fmt: skip
    if analysis:
        extra["analysis"] = _analyse(model, documents, predicted, batch_size, numeric.autocast())
    if bootstrap or compare_with is not None:
        other = None
        if compare_with is not None:
            other = _other_predictions(compare_with, documents, spec, str(torch_device),
                                       batch_size, numeric.autocast())  # fmt: skip
        labels = (str(model_dir), str(compare_with))
        extra.update(_significance(model, spec, documents, predicted, bootstrap, labels, other))
    output = output or Path(model_dir) / f"eval-{name}-{split}.json"
    write_metrics_json(output, result, extra=extra)
    print(f"metrics: {output}")
    if predictions is not None:
        write_documents(predicted, predictions)
        print(f"predictions: {predictions}")
    return result


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        # Named as the user ran it: `iter evaluate` or `python3 evaluate.py`.
        prog="iter evaluate" if Path(sys.argv[0]).name == "iter" else "evaluate.py",
        description="Evaluate a checkpoint on a dataset split: prints the NER / RE / RE+ "
        "table, writes JSON.",
    )
    parser.add_argument("--model", required=True, help="checkpoint folder")
    parser.add_argument("--dataset", help="registered dataset (default: the model's own)")
    parser.add_argument("--split", default="test", help="split name (default: test)")
    parser.add_argument("--data_dir", help="folder of the dataset's files (default: data/<name>)")
    parser.add_argument("--output", help="metrics JSON path (default: <model>/eval-<split>.json)")
    parser.add_argument("--predictions", help="write predicted documents (common JSON) here")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument(
        "--analysis",
        action="store_true",
        help="also report link scores given the gold entities and errors by cause",
    )
    parser.add_argument(
        "--link_threshold",
        type=float,
        help="the probability a link must exceed (default: the checkpoint's)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="resample the documents N times for 95%% intervals of the scores (e.g. 1000)",
    )
    parser.add_argument(
        "--compare",
        metavar="OTHER",
        help="another checkpoint folder or predictions file (--predictions) on the same "
        f"split: the paired bootstrap difference OTHER - MODEL ({DEFAULT_RESAMPLES} resamples "
        "unless --bootstrap says)",
    )
    parser.add_argument(
        "--tune_link_threshold",
        action="store_true",
        help="choose the link threshold on the dataset's dev split first (0.01-0.95)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with user_errors():
        evaluate_checkpoint(
            model_dir=Path(args.model),
            dataset=args.dataset,
            split=args.split,
            data_dir=args.data_dir,
            output=Path(args.output) if args.output else None,
            predictions=Path(args.predictions) if args.predictions else None,
            batch_size=args.batch_size,
            device=args.device,
            precision=args.precision,
            analysis=args.analysis,
            link_threshold=args.link_threshold,
            tune_link_threshold=args.tune_link_threshold,
            bootstrap=args.bootstrap,
            compare_with=Path(args.compare) if args.compare else None,
        )
