"""Would a link threshold tuned on dev help? RE+ micro F1 on dev and test over a grid of
thresholds, each checkpoint predicted once (links kept down to 0.1, then filtered).

    python benchmarks/link_threshold.py CHECKPOINT [CHECKPOINT ...] [--data data/conll04]
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


def re_plus_by_threshold(model, documents) -> dict[float, float]:
    scored = predict_scored(model, documents, link_threshold=LOWEST)
    found = {}
    for threshold in GRID:
        kept = [
            with_predictions(
                doc,
                ScoredAnnotations(
                    s.entities, {r: p for r, p in s.relations.items() if p > threshold}
                ),
            )
            for doc, s in zip(documents, scored, strict=True)
        ]
        result = score_predictions(model, documents, kept).to_dict()
        found[threshold] = round(100 * result["re_plus"]["micro"]["f1"], 2)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/conll04"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = {name: read_documents(args.data / f"{name}.json") for name in ("dev", "test")}
    for checkpoint in args.checkpoints:
        model = ITERForRelationExtraction.from_pretrained(checkpoint).eval()
        scores = {name: re_plus_by_threshold(model, docs) for name, docs in splits.items()}
        # Ties on dev go to the threshold nearer the default 0.5.
        tuned = max(GRID, key=lambda t: (scores["dev"][t], -abs(t - 0.5)))
        row = {"checkpoint": str(checkpoint), **scores, "dev_tuned": tuned,
               "test_at_dev_tuned": scores["test"][tuned], "test_at_0.5": scores["test"][0.5]}
        print(json.dumps(row), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
