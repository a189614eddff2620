"""Would a link threshold tuned on dev help? RE+ micro F1 on dev and test over a grid of
thresholds, each checkpoint predicted once (links kept down to the grid's lowest threshold,
then filtered).

    python benchmarks/link_threshold.py CHECKPOINT [CHECKPOINT ...] [--data data/conll04]
        [--grid 0.01,0.05,0.5] [--signatures] [--device cuda]

--per-type tunes one threshold per relation type on dev instead (coordinate ascent over the
grid, two passes, every type starting at 0.5) and scores test with them. --grid replaces
the default grid (0.5 is always added: the rows report it); --signatures decodes under the
training data's (head type, relation, tail type) triples, as ``model.signature_constraint``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signature_constraint import checkpoint_parser

from iter.data.document import relation_signatures
from iter.data.reader import read_documents
from iter.evaluation.runner import score_predictions
from iter.evaluation.threshold import filter_links
from iter.inference.documents import predict_scored, with_predictions
from iter.modeling.model import ITERForRelationExtraction

GRID = (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


def re_plus_at(model, documents, scored, threshold) -> float:
    """RE+ micro F1 with the links whose probability exceeds ``threshold`` (one, or one
    per relation type)."""
    kept = [
        with_predictions(doc, filter_links(s, threshold))
        for doc, s in zip(documents, scored, strict=True)
    ]
    result = score_predictions(model, documents, kept).to_dict()
    return round(100 * result["re_plus"]["micro"]["f1"], 2)


def re_plus_by_threshold(model, documents, grid: tuple[float, ...]) -> dict[float, float]:
    # Links are decoded once down to the lowest threshold, then filtered per threshold.
    scored = predict_scored(model, documents, link_threshold=min(grid))
    return {t: re_plus_at(model, documents, scored, t) for t in grid}


def per_type_row(model, splits: dict, grid: tuple[float, ...]) -> dict:
    """Thresholds per relation type tuned on dev, and RE+ on dev and test with them."""
    scored = {name: predict_scored(model, docs, link_threshold=min(grid))
              for name, docs in splits.items()}  # fmt: skip

    def score(name: str, thresholds: dict[str, float]) -> float:
        return re_plus_at(model, splits[name], scored[name], thresholds)

    thresholds = dict.fromkeys(model.config.relation_types, 0.5)
    default = {name: score(name, thresholds) for name in splits}
    for _ in range(2):
        for kind in thresholds:
            thresholds[kind] = max(
                grid, key=lambda t: (score("dev", {**thresholds, kind: t}), -abs(t - 0.5))
            )
    tuned = {"dev_tuned": score("dev", thresholds), "test_tuned": score("test", thresholds)}
    return {"at_0.5": default, "tuned": thresholds, **tuned}


def threshold_grid(text: str) -> tuple[float, ...]:
    """``--grid``: comma-separated probabilities in (0, 1), sorted, with 0.5 added."""
    try:
        values = {float(part) for part in text.split(",") if part.strip()}
    except ValueError:
        message = f"not a comma-separated list of numbers: {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    outside = sorted(v for v in values if not 0 < v < 1)
    if outside:
        raise argparse.ArgumentTypeError(f"thresholds must lie in (0, 1); got {outside}")
    return tuple(sorted(values | {0.5}))


def load_model(
    checkpoint: Path, signatures: list | None, device: str = "cpu"
) -> ITERForRelationExtraction:
    """The checkpoint for decoding; with ``signatures``, linking only those type triples."""
    model = ITERForRelationExtraction.from_pretrained(checkpoint).to(device).eval()
    if signatures is not None:
        model.config.relation_signatures = signatures
    return model


def main() -> None:
    parser = checkpoint_parser(__doc__.splitlines()[0])
    parser.add_argument("--per-type", action="store_true", help="one threshold per type")
    parser.add_argument("--grid", type=threshold_grid, default=GRID,
                        help="comma-separated thresholds to try (0.5 is always added)")
    parser.add_argument("--signatures", action="store_true",
                        help="link only the training data's (head type, relation, tail type)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = {name: read_documents(args.data / f"{name}.json") for name in ("dev", "test")}
    signatures = None
    if args.signatures:
        signatures = relation_signatures(read_documents(args.data / "train.json"))
    for checkpoint in args.checkpoints:
        model = load_model(checkpoint, signatures, args.device)
        head = {"checkpoint": str(checkpoint), "signatures": args.signatures}
        if args.per_type:
            print(json.dumps({**head, **per_type_row(model, splits, args.grid)}), flush=True)
            continue
        scores = {name: re_plus_by_threshold(model, docs, args.grid)
                  for name, docs in splits.items()}  # fmt: skip
        # Ties on dev go to the threshold nearer the default 0.5.
        tuned = max(args.grid, key=lambda t: (scores["dev"][t], -abs(t - 0.5)))
        row = {**head, **scores, "dev_tuned": tuned,
               "test_at_dev_tuned": scores["test"][tuned], "test_at_0.5": scores["test"][0.5]}
        print(json.dumps(row), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
