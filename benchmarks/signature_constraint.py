"""What ``model.signature_constraint`` gives a trained checkpoint: NER, RE and RE+ micro F1 on
dev and test, decoded as trained and again linking only the (head type, relation type, tail
type) triples of the training data.

    python benchmarks/signature_constraint.py CHECKPOINT [CHECKPOINT ...] [--data data/conll04]
        [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iter.data.document import relation_signatures
from iter.data.reader import read_documents
from iter.evaluation.runner import score_predictions
from iter.inference.documents import predict_documents
from iter.modeling.model import ITERForRelationExtraction


def micro_scores(model: ITERForRelationExtraction, documents) -> dict[str, float]:
    result = score_predictions(model, documents, predict_documents(model, documents)).to_dict()
    return {task: round(100 * result[task]["micro"]["f1"], 2) for task in ("ner", "re", "re_plus")}


def checkpoint_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every script that decodes checkpoints takes (this one,
    overlapping_spans.py, link_threshold.py): checkpoints, the data folder, threads and device."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/conll04"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    return parser


def checkpoint_arguments(description: str, signatures_flag: bool = False) -> argparse.Namespace:
    """:func:`checkpoint_parser`'s arguments, parsed, with the threads applied;
    ``signatures_flag`` adds ``--signatures`` (also decode under the signature constraint)."""
    parser = checkpoint_parser(description)
    if signatures_flag:
        parser.add_argument("--signatures", action="store_true",
                            help="also decode linking only the training data's type triples")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def main() -> None:
    args = checkpoint_arguments(__doc__.splitlines()[0])
    signatures = relation_signatures(read_documents(args.data / "train.json"))
    splits = {name: read_documents(args.data / f"{name}.json") for name in ("dev", "test")}
    for checkpoint in args.checkpoints:
        model = ITERForRelationExtraction.from_pretrained(checkpoint).to(args.device).eval()
        as_trained = model.config.relation_signatures
        row: dict = {"checkpoint": str(checkpoint), "signatures": signatures}
        for name, documents in splits.items():
            model.config.relation_signatures = as_trained
            row[name] = micro_scores(model, documents)
            model.config.relation_signatures = signatures
            row[f"{name}_constrained"] = micro_scores(model, documents)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
