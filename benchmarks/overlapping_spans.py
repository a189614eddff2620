"""What ``model.drop_overlapping_spans`` gives a trained checkpoint: NER, RE and RE+ micro F1
on dev and test, decoded as trained and again keeping only the best-scored of overlapping
spans (flat data), with the number of overlapping pairs of predicted spans.

    python benchmarks/overlapping_spans.py CHECKPOINT [CHECKPOINT ...] [--data data/conll04]
        [--device cuda]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signature_constraint import checkpoint_arguments

from iter.data.reader import read_documents
from iter.evaluation.runner import score_predictions
from iter.inference.documents import predict_documents
from iter.modeling.model import ITERForRelationExtraction


def overlapping_pairs(documents) -> int:
    """Pairs of entities of one document that share a word."""
    return sum(
        a.overlaps(b)
        for document in documents
        for i, a in enumerate(document.entities)
        for b in document.entities[i + 1 :]
    )


def main() -> None:
    args = checkpoint_arguments(__doc__.splitlines()[0])
    splits = {name: read_documents(args.data / f"{name}.json") for name in ("dev", "test")}
    for checkpoint in args.checkpoints:
        model = ITERForRelationExtraction.from_pretrained(checkpoint).to(args.device).eval()
        if model.config.nesting_depth != 1:
            raise SystemExit(f"{checkpoint}: nested data keeps overlapping spans by design")
        row: dict = {"checkpoint": str(checkpoint)}
        for name, documents in splits.items():
            for drop, key in ((False, name), (True, f"{name}_without_overlaps")):
                model.config.drop_overlapping_spans = drop
                predicted = predict_documents(model, documents)
                result = score_predictions(model, documents, predicted).to_dict()
                row[key] = {task: round(100 * result[task]["micro"]["f1"], 2)
                            for task in ("ner", "re", "re_plus")}  # fmt: skip
                row[key]["overlapping_pairs"] = overlapping_pairs(predicted)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
