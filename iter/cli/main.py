"""The ``iter`` command: ``iter predict``, ``iter train``, ``iter evaluate``, ``iter push``.

iter predict --model DIR input.txt|input.jsonl [-o out.jsonl] [--batch_size 32]
iter train --dataset conll04 --seed 1 [Hydra overrides...]     (same as train.py)
iter evaluate --model DIR [--dataset conll04 --split test]     (same as evaluate.py)
iter push CHECKPOINT_DIR REPO_ID [--private] [--dry-run]       (to the Hugging Face Hub)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from iter.cli.errors import user_errors
from iter.errors import IterError


class InputError(IterError):
    """An input file for ``iter predict`` cannot be read."""


def read_inputs(path: Path, jsonl: bool | None = None) -> list[str | list[str]]:
    """Texts from .txt (one per line) or .jsonl (``{"text": ...}`` or ``{"tokens": [...]}``);
    ``-`` reads standard input, texts one per line unless ``jsonl``. ``jsonl`` (true or
    false) overrides what the file's suffix says."""
    if str(path) == "-":
        lines = sys.stdin.read().splitlines()
        path = Path("<stdin>")
    elif not path.is_file():
        raise InputError(f"{path}: no such input file")
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise InputError(f"{path}: not valid UTF-8 (byte {err.start})") from None
    if not (path.suffix == ".jsonl" if jsonl is None else jsonl):
        # Blank lines stay (as texts without entities) so output line N answers input line N.
        return list(lines)
    texts: list[str | list[str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
        if isinstance(record, str):
            texts.append(record)
        elif isinstance(record, dict) and isinstance(record.get("text"), str):
            texts.append(record["text"])
        elif (
            isinstance(record, dict)
            and isinstance(record.get("tokens"), list)
            and all(isinstance(t, str) for t in record["tokens"])
        ):
            texts.append(record["tokens"])
        else:
            raise InputError(
                f'{path}, line {number}: expected a string, {{"text": str}} or '
                '{"tokens": [str, ...]}'
            )
    return texts


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict_command(args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from iter.inference.text import predict_texts
    from iter.modeling.loading import load_model
    from iter.runtime.precision import resolve_device, resolve_precision

    if args.batch_size < 1:
        raise InputError(f"--batch_size must be >= 1, got {args.batch_size}")
    texts = read_inputs(Path(args.input), args.jsonl)
    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    model = load_model(args.model, str(device))
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        # Chunks of many batches keep memory flat on large inputs while sorting by length
        # within each chunk.
        with tqdm(total=len(texts), desc="predict", unit="text", disable=not args.output) as bar:
            for chunk in _chunks(texts, 64 * args.batch_size):
                for prediction in predict_texts(
                    model, chunk, args.batch_size, precision.autocast()
                ):
                    out.write(json.dumps(prediction.to_dict(), ensure_ascii=False) + "\n")
                bar.update(len(chunk))
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output:
        print(f"{len(texts)} predictions written to {args.output}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "train":
        from iter.cli.train import main as train_main

        train_main(argv[1:])
        return
    if argv and argv[0] == "evaluate":
        from iter.cli.evaluate import main as evaluate_main

        evaluate_main(argv[1:])
        return
    args = _parser().parse_args(argv)
    with user_errors():
        if args.command == "push":
            from iter.cli.push import push_command

            push_command(args.checkpoint, args.repo_id, args.private, args.dry_run)
        else:
            predict_command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iter", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("train", help="train a model (train.py)")
    commands.add_parser("evaluate", help="evaluate a checkpoint (evaluate.py)")
    predict = commands.add_parser("predict", help="predict entities and relations for texts")
    predict.add_argument("--model", required=True, help="checkpoint folder")
    predict.add_argument(
        "input", help="input.txt (one text per line), input.jsonl, or - for standard input"
    )
    form = predict.add_mutually_exclusive_group()
    form.add_argument(
        "--jsonl", dest="jsonl", action="store_true", default=None,
        help="read the input as JSONL whatever its name (e.g. - for JSONL on standard input)",
    )  # fmt: skip
    form.add_argument(
        "--text", dest="jsonl", action="store_false",
        help="read the input as one text per line whatever its name",
    )  # fmt: skip
    predict.add_argument("-o", "--output", help="output JSONL (default: standard output)")
    predict.add_argument("--batch_size", type=int, default=32)
    predict.add_argument("--device", default="auto")
    predict.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    push = commands.add_parser(
        "push",
        help="upload a checkpoint folder with its model card to the Hugging Face Hub",
        description="Upload a checkpoint folder as it is (weights, config, tokenizer, model "
        "card) to a hub model repository, created if missing. The token is huggingface_hub's "
        "(HF_TOKEN or `hf auth login`).",
    )
    push.add_argument("checkpoint", help="checkpoint folder (e.g. a run's checkpoint-best)")
    push.add_argument("repo_id", help="hub repository: name or owner/name")
    push.add_argument(
        "--private", action="store_true", help="create the repository private if it is new"
    )
    push.add_argument(
        "--dry-run",
        action="store_true",
        help="print the files it would upload and the card's metadata; no network",
    )
    return parser


if __name__ == "__main__":
    main()
