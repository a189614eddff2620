"""Evaluate a checkpoint on a dataset split: prints the NER / RE / RE+ table, writes JSON.

python3 evaluate.py --model outputs/runs/.../checkpoint-best [--dataset conll04] [--split test]
"""

import argparse
import sys
from pathlib import Path

from iter.cli.errors import user_errors


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with user_errors():
        from iter.evaluation.runner import evaluate_checkpoint

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
        )


if __name__ == "__main__":
    main()
