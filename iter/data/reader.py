"""Reading and validating files in the common JSON format.

One module owns the format: every check here raises :class:`DatasetFormatError` naming the
file, the document index and the field, so a bad file never surfaces as a traceback deep in
the model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from iter.data.document import Document, Entity, Relation
from iter.errors import DatasetFormatError

logger = logging.getLogger(__name__)


def read_documents(
    path: str | Path,
    entity_types: Sequence[str] | None = None,
    relation_types: Sequence[str] | None = None,
    allow_overlap: bool = True,
) -> list[Document]:
    """Read and validate a JSON list of documents.

    ``entity_types`` / ``relation_types``: when given, any other type is an error.
    ``allow_overlap``: when false (flat datasets) overlapping entity spans are an error.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(str(path), "file not found")
    raw_bytes = path.read_bytes()
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw_bytes[: err.start].count(b"\n") + 1
        raise DatasetFormatError(
            str(path), f"not valid UTF-8 (byte {err.start}, line {line}): {err.reason}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetFormatError(
            str(path), f"not valid JSON (line {err.lineno}, column {err.colno}): {err.msg}"
        ) from None
    if not isinstance(data, list):
        raise DatasetFormatError(
            str(path), f"expected a JSON list of documents, found {type(data).__name__}"
        )
    return parse_documents(data, str(path), entity_types, relation_types, allow_overlap)


def parse_documents(
    data: Iterable[object],
    source: str,
    entity_types: Sequence[str] | None = None,
    relation_types: Sequence[str] | None = None,
    allow_overlap: bool = True,
) -> list[Document]:
    """Validate already-loaded JSON documents; ``source`` names them in errors.

    Exact duplicates (same span and type, or same relation) state one fact twice: they are
    merged, and a warning says how many and where, since real corpora (SciERC) contain some.
    """
    known_entities = set(entity_types) if entity_types is not None else None
    known_relations = set(relation_types) if relation_types is not None else None
    merged: list[str] = []
    documents = [
        _parse_document(raw, source, i, known_entities, known_relations, allow_overlap, merged)
        for i, raw in enumerate(data)
    ]
    if merged:
        shown = "; ".join(merged[:5]) + (f"; and {len(merged) - 5} more" if len(merged) > 5 else "")
        logger.warning("%s: merged %d exact duplicate annotation(s): %s", source, len(merged), shown)
    return documents


def _parse_document(
    raw: object,
    source: str,
    index: int,
    known_entities: set[str] | None,
    known_relations: set[str] | None,
    allow_overlap: bool,
    merged: list[str],
) -> Document:
    def fail(field: str | None, message: str) -> DatasetFormatError:
        return DatasetFormatError(source, message, document=index, field=field)

    if not isinstance(raw, dict):
        raise fail(None, f"expected an object, found {type(raw).__name__}")
    for key in ("tokens", "entities", "relations"):
        if key not in raw:
            raise fail(key, "missing")
    tokens = raw["tokens"]
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise fail("tokens", "expected a list of strings")
    if not tokens:
        raise fail("tokens", "empty document (no tokens)")
    for position, token in enumerate(tokens):
        if token == "" or token.isspace():
            raise fail(f"tokens[{position}]", f"empty or whitespace-only token {token!r}")

    if not isinstance(raw["entities"], list):
        raise fail("entities", "expected a list")
    entities: list[Entity] = []
    # Maps each raw entity index to its position in ``entities`` after merging duplicates.
    position_of: list[int] = []
    seen: dict[Entity, int] = {}
    for e_index, e in enumerate(raw["entities"]):
        field = f"entities[{e_index}]"
        if not isinstance(e, dict):
            raise fail(field, "expected an object with type, start, end")
        for key in ("type", "start", "end"):
            if key not in e:
                raise fail(f"{field}.{key}", "missing")
        start, end, etype = e["start"], e["end"], e["type"]
        if not isinstance(etype, str) or not etype:
            raise fail(f"{field}.type", f"expected a non-empty string, found {etype!r}")
        for key, value in (("start", start), ("end", end)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise fail(f"{field}.{key}", f"expected an integer, found {value!r}")
        if start < 0 or end > len(tokens):
            raise fail(
                field, f"span [{start}, {end}) out of range for {len(tokens)} tokens"
            )
        if end <= start:
            raise fail(field, f"end ({end}) must be greater than start ({start})")
        if known_entities is not None and etype not in known_entities:
            raise fail(
                f"{field}.type", f"unknown entity type {etype!r}; known: {sorted(known_entities)}"
            )
        entity = Entity(start, end, etype)
        if entity in seen:
            merged.append(f"document {index} {field} = entities[{seen[entity]}]")
            position_of.append(position_of[seen[entity]])
            continue
        seen[entity] = e_index
        position_of.append(len(entities))
        entities.append(entity)

    if not allow_overlap:
        ordered = sorted(range(len(entities)), key=lambda i: entities[i].span)
        for a, b in zip(ordered, ordered[1:]):
            if entities[a].overlaps(entities[b]):
                raise fail(
                    f"entities[{b}]",
                    f"overlaps entities[{a}], but this dataset is flat (nesting depth 1)",
                )

    if not isinstance(raw["relations"], list):
        raise fail("relations", "expected a list")
    relations: list[Relation] = []
    seen_relations: dict[Relation, int] = {}
    for r_index, r in enumerate(raw["relations"]):
        field = f"relations[{r_index}]"
        if not isinstance(r, dict):
            raise fail(field, "expected an object with type, head, tail")
        for key in ("type", "head", "tail"):
            if key not in r:
                raise fail(f"{field}.{key}", "missing")
        rtype = r["type"]
        if not isinstance(rtype, str) or not rtype:
            raise fail(f"{field}.type", f"expected a non-empty string, found {rtype!r}")
        if known_relations is not None and rtype not in known_relations:
            raise fail(
                f"{field}.type",
                f"unknown relation type {rtype!r}; known: {sorted(known_relations)}",
            )
        for key in ("head", "tail"):
            value = r[key]
            if not isinstance(value, int) or isinstance(value, bool):
                raise fail(f"{field}.{key}", f"expected an entity index, found {value!r}")
            if not 0 <= value < len(position_of):
                raise fail(
                    f"{field}.{key}",
                    f"points at entity {value}, but the document has {len(position_of)} entities",
                )
        head, tail = entities[position_of[r["head"]]], entities[position_of[r["tail"]]]
        if head == tail:
            raise fail(field, f"self-relation: head and tail are both entity {r['head']}")
        relation = Relation(head, tail, rtype)
        if relation in seen_relations:
            merged.append(f"document {index} {field} = relations[{seen_relations[relation]}]")
            continue
        seen_relations[relation] = r_index
        relations.append(relation)

    doc_id = raw.get("id", raw.get("orig_id"))
    doc_key = raw.get("doc_key")
    return Document(
        tokens=tuple(tokens),
        entities=tuple(entities),
        relations=tuple(relations),
        id=str(doc_id) if doc_id is not None else str(index),
        doc_key=str(doc_key) if doc_key is not None else None,
    )


def write_documents(documents: Iterable[Document], path: str | Path) -> None:
    """Write documents in the common JSON format."""
    Path(path).write_text(json.dumps([d.to_json() for d in documents], ensure_ascii=False))
