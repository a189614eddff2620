"""Convert CoNLL-2003 column files (``eng.train``, ``eng.testa``, ``eng.testb``) to common format.

Each sentence becomes one document::

    {"tokens": [...], "entities": [{"type", "start", "end"}], "relations": [],
     "doc_key": "train-17", "sentence_index": 3}

``doc_key`` numbers the source documents within the file (from 0) and ``sentence_index`` is the
sentence's position in its document, so cross-sentence context can be rebuilt without crossing a
document boundary.

The token is the first column and the NER tag the last, so both the original 4-column files and
2-column token/tag files are read. Tags may be IOB1 (the original release: ``I-X`` everywhere,
``B-X`` only between two adjacent entities of the same type) or IOB2 (``B-X`` opens every entity);
one decoder handles both. ``-DOCSTART-`` lines are treated purely as document separators, because
copies of the data differ in whether they stand before or after their document.

Usage: ``python3 scripts/datasets/convert_conll03.py eng.train train.json [--key-prefix train]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file: make the repository root importable so ``scripts.datasets`` resolves.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from iter.data.reader import parse_documents
from scripts.datasets.common import (
    SourceFormatError,
    run_cli,
    write_json_atomic,
)

DOCSTART = "-DOCSTART-"

# The original file names map onto the split names used everywhere else.
SPLIT_OF_FILE = {"eng.train": "train", "eng.testa": "dev", "eng.testb": "test"}


def decode_iob(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Decode IOB1 or IOB2 tags into ``(start, end_exclusive, type)`` spans.

    ``I-X`` continues an open entity of type X and otherwise opens one (IOB1, and lenient
    IOB2); ``B-X`` always opens a new entity. Tags must already be checked by the caller.
    """
    spans: list[tuple[int, int, str]] = []
    start: int | None = None
    current: str | None = None
    for position, tag in enumerate(tags):
        if tag == "O":
            prefix, label = "O", None
        else:
            prefix, label = tag[0], tag[2:]
        continues = prefix == "I" and label == current
        if start is not None and current is not None and not continues:
            spans.append((start, position, current))
            start, current = None, None
        if prefix in ("B", "I") and not continues:
            start, current = position, label
    if start is not None and current is not None:
        spans.append((start, len(tags), current))
    return spans


def _check_tag(tag: str, path: Path, line: int) -> None:
    if tag == "O":
        return
    if len(tag) < 3 or tag[0] not in "BI" or tag[1] != "-":
        raise SourceFormatError(
            path,
            f"unknown NER tag {tag!r}; expected O, B-TYPE or I-TYPE",
            line=line,
            field="tag",
        )


# A sentence is a list of (token, tag, line number) rows; a document, a list of sentences.
_Sentence = list[tuple[str, str, int]]


def convert_conll03(path: str | Path, key_prefix: str | None = None) -> list[dict]:
    """Read one CoNLL-2003 column file and return its sentences in the common format.

    ``key_prefix`` starts every ``doc_key``; by default the split name for the original file
    names (``eng.testa`` -> ``dev``) and the file name otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceFormatError(path, "file not found")
    if key_prefix is None:
        key_prefix = SPLIT_OF_FILE.get(path.name, path.name)
    with path.open(encoding="utf-8") as handle:
        try:
            lines = list(handle)
        except UnicodeDecodeError as err:
            raise SourceFormatError(path, f"not valid UTF-8: {err.reason}") from None
    return _sentence_documents(_group_lines(lines, path), key_prefix)


def _group_lines(lines: Sequence[str], path: Path) -> list[list[_Sentence]]:
    """Group the column lines into documents of sentences, checking each tag."""
    documents: list[list[_Sentence]] = []
    document: list[_Sentence] = []
    sentence: _Sentence = []
    for number, raw_line in enumerate(lines, start=1):
        columns = raw_line.split()
        if not columns or columns[0] == DOCSTART:
            # A blank line closes the sentence; a -DOCSTART-, a separator wherever it stands,
            # closes the sentence and the document before it.
            if sentence:
                document.append(sentence)
                sentence = []
            if columns and document:
                documents.append(document)
                document = []
            continue
        if len(columns) < 2:
            raise SourceFormatError(
                path,
                f"expected a token and an NER tag, found {raw_line.strip()!r}",
                line=number,
                field="tag",
            )
        tag = columns[-1]
        _check_tag(tag, path, number)
        sentence.append((columns[0], tag, number))
    if sentence:
        document.append(sentence)
    if document:
        documents.append(document)
    return documents


def _sentence_documents(documents: Sequence[Sequence[_Sentence]], key_prefix: str) -> list[dict]:
    """One common-format document per sentence, keyed by its source document."""
    out: list[dict] = []
    for doc_number, doc_sentences in enumerate(documents):
        for sentence_index, rows in enumerate(doc_sentences):
            spans = decode_iob([tag for _, tag, _ in rows])
            out.append(
                {
                    "tokens": [token for token, _, _ in rows],
                    "entities": [
                        {"type": label, "start": start, "end": end} for start, end, label in spans
                    ],
                    "relations": [],
                    "doc_key": f"{key_prefix}-{doc_number}",
                    "sentence_index": sentence_index,
                }
            )
    return out


def count_documents(converted: Sequence[dict]) -> int:
    """How many source documents the converted sentences come from."""
    return len({sentence["doc_key"] for sentence in converted})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="CoNLL-2003 column file, e.g. eng.train")
    parser.add_argument("output", type=Path, help="JSON file to write in the common format")
    parser.add_argument(
        "--key-prefix", default=None, help="doc_key prefix (default: split name or file name)"
    )
    args = parser.parse_args(argv)
    converted = convert_conll03(args.source, args.key_prefix)
    # The reader's checks catch anything the conversion let through, before a file lands.
    parse_documents(converted, str(args.source), allow_overlap=False)
    write_json_atomic(converted, args.output)
    entities = sum(len(sentence["entities"]) for sentence in converted)
    print(
        f"{args.output}: {len(converted)} sentences, {count_documents(converted)} documents, "
        f"{entities} entities"
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
