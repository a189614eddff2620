"""What ``model.drop_overlapping_spans`` gives a trained checkpoint: NER, RE and RE+ micro F1
on dev and test, decoded keeping every span (ITER's decoding; key ``<split>``) and again
keeping only the best-scored of overlapping spans (flat data; ``<split>_without_overlaps``),
whichever way the checkpoint was trained, with the number of overlapping pairs of predicted
spans. With ``--signatures``, a third decoding also links only the (head type, relation
type, tail type) triples of the training data (``model.signature_constraint``), keys
``<split>_both``.

    python benchmarks/overlapping_spans.py CHECKPOINT [CHECKPOINT ...] [--data data/conll04]
        [--device cuda] [--signatures]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from signature_constraint import checkpoint_arguments

from iter.data.document import relation_signatures
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
    args = checkpoint_arguments(__doc__.splitlines()[0], signatures_flag=True)
    splits = {name: read_documents(args.data / f"{name}.json") for name in ("dev", "test")}
    for checkpoint in args.checkpoints:
        model = ITERForRelationExtraction.from_pretrained(checkpoint).to(args.device).eval()
        if model.config.nesting_depth != 1:
            raise SystemExit(f"{checkpoint}: nested data keeps overlapping spans by design")
        as_trained = model.config.relation_signatures
        decodings = [(False, as_trained, "{}"), (True, as_trained, "{}_without_overlaps")]
        if args.signatures:
            signatures = relation_signatures(read_documents(args.data / "train.json"))
            decodings.append((True, signatures, "{}_both"))
        row: dict = {"checkpoint": str(checkpoint)}
        for name, documents in splits.items():
            for drop, constraint, key_format in decodings:
                key = key_format.format(name)
                model.config.drop_overlapping_spans = drop
                model.config.relation_signatures = constraint
                predicted = predict_documents(model, documents)
                result = score_predictions(model, documents, predicted).to_dict()
                row[key] = {task: round(100 * result[task]["micro"]["f1"], 2)
                            for task in ("ner", "re", "re_plus")}  # fmt: skip
                row[key]["overlapping_pairs"] = overlapping_pairs(predicted)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
