"""Would a link threshold tuned on dev help? RE+ micro F1 on dev and test over a grid of
thresholds, each checkpoint predicted once (links kept down to 0.1, then filtered).

    python benchmarks/link_threshold.py CHECKPOINT [CHECKPOINT ...] [--data data/conll04]

--per-type tunes one threshold per relation type on dev instead (coordinate ascent over the
grid, two passes, every type starting at 0.5) and scores test with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iter.data.reader import read_documents
from iter.evaluation.runner import score_predictions
from iter.inference.documents import (
    ScoredAnnotations,
    predict_scored,
    with_predictions,
)
from iter.modeling.model import ITERForRelationExtraction

GRID = (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
LOWEST = 0.1  # links are decoded down to this probability once, then filtered per threshold


def re_plus_at(model, documents, scored, threshold_of) -> float:
    """RE+ micro F1 with the links whose probability exceeds ``threshold_of(type)``."""
    kept = [
        with_predictions(
            doc,
            ScoredAnnotations(
                s.entities, {r: p for r, p in s.relations.items() if p > threshold_of(r.type)}
            ),
        )
        for doc, s in zip(documents, scored, strict=True)
    ]
    result = score_predictions(model, documents, kept).to_dict()
    return round(100 * result["re_plus"]["micro"]["f1"], 2)


def re_plus_by_threshold(model, documents) -> dict[float, float]:
    scored = predict_scored(model, documents, link_threshold=LOWEST)
    return {t: re_plus_at(model, documents, scored, lambda _, t=t: t) for t in GRID}


def per_type_row(model, splits: dict) -> dict:
    """Thresholds per relation type tuned on dev, and RE+ on dev and test with them."""
    scored = {name: predict_scored(model, docs, link_threshold=LOWEST)
              for name, docs in splits.items()}  # fmt: skip

    def score(name: str, thresholds: dict[str, float]) -> float:
        return re_plus_at(model, splits[name], scored[name], thresholds.__getitem__)

    thresholds = dict.fromkeys(model.config.relation_types, 0.5)
    default = {name: score(name, thresholds) for name in splits}
    for _ in range(2):
        for kind in thresholds:
            thresholds[kind] = max(
                GRID, key=lambda t: (score("dev", {**thresholds, kind: t}), -abs(t - 0.5))
            )
    tuned = {"dev_tuned": score("dev", thresholds), "test_tuned": score("test", thresholds)}
    return {"at_0.5": default, "tuned": thresholds, **tuned}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/conll04"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-type", action="store_true", help="one threshold per type")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = {name: read_documents(args.data / f"{name}.json") for name in ("dev", "test")}
    for checkpoint in args.checkpoints:
        model = ITERForRelationExtraction.from_pretrained(checkpoint).eval()
        if args.per_type:
            print(json.dumps({"checkpoint": str(checkpoint), **per_type_row(model, splits)}),
                  flush=True)  # fmt: skip
            continue
        scores = {name: re_plus_by_threshold(model, docs) for name, docs in splits.items()}
        # Ties on dev go to the threshold nearer the default 0.5.
        tuned = max(GRID, key=lambda t: (scores["dev"][t], -abs(t - 0.5)))
        row = {"checkpoint": str(checkpoint), **scores, "dev_tuned": tuned,
               "test_at_dev_tuned": scores["test"][tuned], "test_at_0.5": scores["test"][0.5]}
        print(json.dumps(row), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
