"""Convert GENIA nested-NER JSON to the common format.

The source is a JSON list of sentences::

    {"sentence": ["IL-2", "gene", ...], "ner": [{"index": [0, 1], "type": "DNA"}, ...]}

where ``index`` lists the consecutive token positions of one mention. Mentions may nest, so the
output keeps overlapping spans; GENIA has no relations, so ``relations`` is always empty. The
GENIA annotations are distributed under CC BY 3.0.

Usage: ``python3 scripts/datasets/convert_genia.py train.json out/train.json``
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file: make the repository root importable so ``scripts.datasets`` resolves.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from iter.data.reader import is_index, parse_documents
from scripts.datasets.common import (
    SourceFormatError,
    run_cli,
    write_json_atomic,
)


def convert_genia_documents(data: object, source: str | Path) -> list[dict]:
    """Convert already-loaded GENIA JSON; ``source`` names it in errors."""
    if not isinstance(data, list):
        raise SourceFormatError(
            source, f"expected a JSON list of sentences, found {type(data).__name__}"
        )
    out: list[dict] = []
    for number, raw in enumerate(data):

        def fail(field: str | None, message: str, number: int = number) -> SourceFormatError:
            return SourceFormatError(source, message, document=number, field=field)

        if not isinstance(raw, dict):
            raise fail(None, f"expected an object, found {type(raw).__name__}")
        for key in ("sentence", "ner"):
            if key not in raw:
                raise fail(key, "missing")
        tokens = raw["sentence"]
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise fail("sentence", "expected a list of strings")
        if not isinstance(raw["ner"], list):
            raise fail("ner", "expected a list")
        entities: list[dict] = []
        for m_index, mention in enumerate(raw["ner"]):
            field = f"ner[{m_index}]"
            if not isinstance(mention, dict):
                raise fail(field, "expected an object with index and type")
            for key in ("index", "type"):
                if key not in mention:
                    raise fail(f"{field}.{key}", "missing")
            index, etype = mention["index"], mention["type"]
            if not isinstance(etype, str) or not etype:
                raise fail(f"{field}.type", f"expected a non-empty string, found {etype!r}")
            if not isinstance(index, list) or not index or not all(is_index(i) for i in index):
                raise fail(
                    f"{field}.index", f"expected a non-empty list of integers, found {index!r}"
                )
            # A gap would silently widen the span over words that are not part of the mention.
            if index != list(range(index[0], index[0] + len(index))):
                raise fail(f"{field}.index", f"token indices are not consecutive: {index}")
            if index[0] < 0 or index[-1] >= len(tokens):
                raise fail(
                    f"{field}.index",
                    f"token indices {index} out of range for {len(tokens)} tokens",
                )
            entities.append({"type": etype, "start": index[0], "end": index[-1] + 1})
        out.append({"tokens": list(tokens), "entities": entities, "relations": []})
    return out


def convert_genia(path: str | Path) -> list[dict]:
    """Read one GENIA JSON file and return its sentences in the common format."""
    path = Path(path)
    if not path.is_file():
        raise SourceFormatError(path, "file not found")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise SourceFormatError(path, f"not valid UTF-8: {err.reason}") from None
    except json.JSONDecodeError as err:
        raise SourceFormatError(
            path, f"not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}"
        ) from None
    return convert_genia_documents(data, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="GENIA JSON file ({sentence, ner} objects)")
    parser.add_argument("output", type=Path, help="JSON file to write in the common format")
    args = parser.parse_args(argv)
    converted = convert_genia(args.source)
    # The reader's checks catch anything the conversion let through, before a file lands.
    parse_documents(converted, str(args.source), allow_overlap=True)
    write_json_atomic(converted, args.output)
    entities = sum(len(sentence["entities"]) for sentence in converted)
    print(f"{args.output}: {len(converted)} sentences, {entities} entities")
    return 0


if __name__ == "__main__":
    run_cli(main)
