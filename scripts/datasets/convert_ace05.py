"""Convert ACE05 in DyGIE-style JSONL to the common format.

ACE05 (LDC2006T06) is licensed by the Linguistic Data Consortium and cannot be shipped with this
project or downloaded by ``fetch.py``: you need your own LDC copy. To use it:

1. Get ACE 2005 Multilingual Training Corpus (LDC2006T06) from the LDC.
2. Produce the DyGIE JSONL files with the ACE05 preprocessing of the dygiepp project
   (https://github.com/dwadden/dygiepp, ``scripts/data/ace05``; see its ``README`` section
   "ACE05 relation extraction"): it yields ``train.json``, ``dev.json`` and ``test.json`` with
   one document per line.
3. Convert each split::

       python3 scripts/datasets/convert_ace05.py train.json data/ace05/train.json
       python3 scripts/datasets/convert_ace05.py dev.json data/ace05/dev.json
       python3 scripts/datasets/convert_ace05.py test.json data/ace05/test.json

Each input line is one document::

    {"doc_key": "...", "sentences": [[tok, ...], ...],
     "ner": [[[start, end_inclusive, type], ...] per sentence],
     "relations": [[[h_start, h_end, t_start, t_end, type], ...] per sentence]}

with token offsets counted over the whole document and inclusive ends. Every sentence becomes one
document with sentence-local, end-exclusive offsets and two extra keys, ``doc_key`` and
``sentence_index``, from which cross-sentence context can be rebuilt.
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


class _Fail:
    """Builds errors that name the file, line, document key and field."""

    def __init__(self, source: str | Path, line: int, document: str | None) -> None:
        self.source, self.line, self.document = source, line, document

    def __call__(self, field: str | None, message: str) -> SourceFormatError:
        return SourceFormatError(
            self.source, message, line=self.line, document=self.document, field=field
        )


def _per_sentence(
    raw: dict, key: str, n_sentences: int, fail: _Fail, required: bool
) -> list[list[object]]:
    """The per-sentence annotation lists under ``key``, one list per sentence."""
    if key not in raw:
        if required:
            raise fail(key, "missing")
        # Some DyGIE files (NER-only variants) have no relations: that means none.
        return [[] for _ in range(n_sentences)]
    value = raw[key]
    if not isinstance(value, list) or not all(isinstance(item, list) for item in value):
        raise fail(key, "expected a list of lists, one per sentence")
    if len(value) != n_sentences:
        raise fail(key, f"has {len(value)} sentence lists, but the document has {n_sentences}")
    return value


def _sentence_entities(
    items: list[object], s_index: int, offset: int, length: int, fail: _Fail
) -> tuple[list[dict], dict[tuple[int, int], int]]:
    """One sentence's entities with sentence-local offsets, and the entity index at each span."""
    entities: list[dict] = []
    # Relations name their arguments by span; the first entity with that span is the one.
    entity_at: dict[tuple[int, int], int] = {}
    for e_index, item in enumerate(items):
        field = f"ner[{s_index}][{e_index}]"
        if (
            not isinstance(item, list)
            or len(item) != 3
            or not (is_index(item[0]) and is_index(item[1]))
            or not isinstance(item[2], str)
            or not item[2]
        ):
            raise fail(field, f"expected [start, end_inclusive, type], found {item!r}")
        start, end = item[0] - offset, item[1] - offset + 1
        if start < 0 or end > length or end <= start:
            raise fail(
                field,
                f"span [{item[0]}, {item[1]}] is not inside sentence {s_index} "
                f"(document tokens {offset}..{offset + length - 1})",
            )
        entity_at.setdefault((start, end), len(entities))
        entities.append({"type": item[2], "start": start, "end": end})
    return entities, entity_at


def _sentence_relations(
    items: list[object],
    s_index: int,
    offset: int,
    entity_at: dict[tuple[int, int], int],
    fail: _Fail,
) -> list[dict]:
    """One sentence's relations, their arguments found among its entities by span."""
    links: list[dict] = []
    for r_index, item in enumerate(items):
        field = f"relations[{s_index}][{r_index}]"
        if (
            not isinstance(item, list)
            or len(item) != 5
            or not all(is_index(v) for v in item[:4])
            or not isinstance(item[4], str)
            or not item[4]
        ):
            raise fail(field, f"expected [h_start, h_end, t_start, t_end, type], found {item!r}")
        ends = []
        for role, (start, end) in (("head", item[0:2]), ("tail", item[2:4])):
            span = (start - offset, end - offset + 1)
            if span not in entity_at:
                raise fail(
                    field,
                    f"{role} span [{start}, {end}] is not an entity of sentence {s_index}",
                )
            ends.append(entity_at[span])
        links.append({"type": item[4], "head": ends[0], "tail": ends[1]})
    return links


def _checked_document(
    raw: object, source: str | Path, line: int
) -> tuple[str, list[list[str]], list[list[object]], list[list[object]], _Fail]:
    """The document's key, sentences and per-sentence ner and relations lists, once their
    shapes are checked, and the error builder that names the document."""
    fail = _Fail(source, line, None)
    if not isinstance(raw, dict):
        raise fail(None, f"expected an object, found {type(raw).__name__}")
    if "doc_key" not in raw:
        raise fail("doc_key", "missing")
    doc_key = str(raw["doc_key"])
    fail = _Fail(source, line, doc_key)
    sentences = raw.get("sentences")
    if not isinstance(sentences, list) or not all(
        isinstance(s, list) and all(isinstance(t, str) for t in s) for s in sentences
    ):
        raise fail("sentences", "expected a list of sentences, each a list of strings")
    ner = _per_sentence(raw, "ner", len(sentences), fail, required=True)
    relations = _per_sentence(raw, "relations", len(sentences), fail, required=False)
    return doc_key, sentences, ner, relations, fail


def convert_ace05_document(raw: object, source: str | Path, line: int) -> list[dict]:
    """Split one DyGIE document into sentence documents with sentence-local offsets."""
    doc_key, sentences, ner, relations, fail = _checked_document(raw, source, line)
    out: list[dict] = []
    offset = 0
    for s_index, tokens in enumerate(sentences):
        entities, entity_at = _sentence_entities(ner[s_index], s_index, offset, len(tokens), fail)
        links = _sentence_relations(relations[s_index], s_index, offset, entity_at, fail)
        offset += len(tokens)
        if not tokens:
            # The common format has no empty documents, and an empty sentence carries nothing.
            continue
        out.append(
            {
                "tokens": list(tokens),
                "entities": entities,
                "relations": links,
                "doc_key": doc_key,
                "sentence_index": s_index,
            }
        )
    return out


def convert_ace05(path: str | Path) -> list[dict]:
    """Read a DyGIE JSONL file (one document per line) and return its sentences."""
    path = Path(path)
    if not path.is_file():
        raise SourceFormatError(path, "file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise SourceFormatError(path, f"not valid UTF-8: {err.reason}") from None
    out: list[dict] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as err:
            raise SourceFormatError(
                path, f"not valid JSON (column {err.colno}): {err.msg}", line=number
            ) from None
        out.extend(convert_ace05_document(raw, path, number))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert ACE05 DyGIE JSONL to the common format (needs your own LDC copy)."
    )
    parser.add_argument("source", type=Path, help="DyGIE JSONL file, one document per line")
    parser.add_argument("output", type=Path, help="JSON file to write in the common format")
    args = parser.parse_args(argv)
    converted = convert_ace05(args.source)
    # The reader's checks catch anything the conversion let through, before a file lands.
    parse_documents(converted, str(args.source), allow_overlap=True)
    write_json_atomic(converted, args.output)
    entities = sum(len(s["entities"]) for s in converted)
    relations = sum(len(s["relations"]) for s in converted)
    print(f"{args.output}: {len(converted)} sentences, {entities} entities, {relations} relations")
    return 0


if __name__ == "__main__":
    run_cli(main)
