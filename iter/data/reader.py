"""Reading and validating files in the common JSON format.

One module owns the format: every check here raises :class:`DatasetFormatError` naming the
file, the document index and the field, so a bad file never surfaces as a traceback deep in
the model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
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
        logger.warning(
            "%s: merged %d exact duplicate annotation(s): %s", source, len(merged), shown
        )
    return documents


@dataclass(frozen=True)
class _Checks:
    """What validating one document needs: where it is (for errors), the known types, and
    the list that collects the exact duplicates merged (for the warning)."""

    source: str
    index: int
    known_entities: set[str] | None
    known_relations: set[str] | None
    merged: list[str]

    def fail(self, field: str | None, message: str) -> DatasetFormatError:
        return DatasetFormatError(self.source, message, document=self.index, field=field)

    def typed_object(self, raw: object, field: str, keys: tuple[str, ...]) -> str:
        """The ``type`` of an annotation object that must hold ``keys`` (type first)."""
        if not isinstance(raw, dict):
            raise self.fail(field, f"expected an object with {', '.join(keys)}")
        for key in keys:
            if key not in raw:
                raise self.fail(f"{field}.{key}", "missing")
        kind = raw["type"]
        if not isinstance(kind, str) or not kind:
            raise self.fail(f"{field}.type", f"expected a non-empty string, found {kind!r}")
        return kind


def _parse_document(
    raw: object,
    source: str,
    index: int,
    known_entities: set[str] | None,
    known_relations: set[str] | None,
    allow_overlap: bool,
    merged: list[str],
) -> Document:
    """Check one raw document field by field, in order, and build it; the first problem raises."""
    checks = _Checks(source, index, known_entities, known_relations, merged)
    document = _check_keys(raw, checks)
    tokens = _parse_tokens(document["tokens"], checks)
    entities, position_of = _parse_entities(document["entities"], len(tokens), checks)
    if not allow_overlap:
        _check_flat(entities, checks)
    relations = _parse_relations(document["relations"], entities, position_of, checks)
    doc_id = document.get("id", document.get("orig_id"))
    doc_key = document.get("doc_key")
    return Document(
        tokens=tuple(tokens),
        entities=tuple(entities),
        relations=tuple(relations),
        id=str(doc_id) if doc_id is not None else str(index),
        doc_key=str(doc_key) if doc_key is not None else None,
    )


def _check_keys(raw: object, checks: _Checks) -> dict:
    """The document, once it is an object with every required key."""
    if not isinstance(raw, dict):
        raise checks.fail(None, f"expected an object, found {type(raw).__name__}")
    for key in ("tokens", "entities", "relations"):
        if key not in raw:
            raise checks.fail(key, "missing")
    return raw


def _parse_tokens(tokens: object, checks: _Checks) -> list[str]:
    """The document's tokens: a non-empty list of non-blank strings."""
    fail = checks.fail
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise fail("tokens", "expected a list of strings")
    if not tokens:
        raise fail("tokens", "empty document (no tokens)")
    for position, token in enumerate(tokens):
        if token == "" or token.isspace():
            raise fail(f"tokens[{position}]", f"empty or whitespace-only token {token!r}")
    return tokens


def is_index(value: object) -> bool:
    """An integer, as token offsets and entity indices are; the dataset converters use it too.

    bool is an int subclass, but True/False as an index is certainly a data error.
    """
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_entity(e: object, field: str, n_tokens: int, checks: _Checks) -> Entity:
    """One raw entity, checked: an object with a known type and a span inside the tokens."""
    fail = checks.fail
    etype = checks.typed_object(e, field, ("type", "start", "end"))
    start, end = e["start"], e["end"]
    for key, value in (("start", start), ("end", end)):
        if not is_index(value):
            raise fail(f"{field}.{key}", f"expected an integer, found {value!r}")
    if start < 0 or end > n_tokens:
        raise fail(field, f"span [{start}, {end}) out of range for {n_tokens} tokens")
    if end <= start:
        raise fail(field, f"end ({end}) must be greater than start ({start})")
    known = checks.known_entities
    if known is not None and etype not in known:
        raise fail(f"{field}.type", f"unknown entity type {etype!r}; known: {sorted(known)}")
    return Entity(start, end, etype)


def _parse_entities(
    raw_entities: object, n_tokens: int, checks: _Checks
) -> tuple[list[Entity], list[int]]:
    """The distinct entities, and for each raw entity index its position among them."""
    if not isinstance(raw_entities, list):
        raise checks.fail("entities", "expected a list")
    entities: list[Entity] = []
    # Maps each raw entity index to its position in ``entities`` after merging duplicates.
    position_of: list[int] = []
    seen: dict[Entity, int] = {}
    for e_index, e in enumerate(raw_entities):
        field = f"entities[{e_index}]"
        entity = _parse_entity(e, field, n_tokens, checks)
        if entity in seen:
            checks.merged.append(f"document {checks.index} {field} = entities[{seen[entity]}]")
            position_of.append(position_of[seen[entity]])
            continue
        seen[entity] = e_index
        position_of.append(len(entities))
        entities.append(entity)
    return entities, position_of


def _check_flat(entities: Sequence[Entity], checks: _Checks) -> None:
    """In a flat dataset no two entity spans overlap."""
    ordered = sorted(range(len(entities)), key=lambda i: entities[i].span)
    for a, b in pairwise(ordered):
        if entities[a].overlaps(entities[b]):
            raise checks.fail(
                f"entities[{b}]",
                f"overlaps entities[{a}], but this dataset is flat (nesting depth 1)",
            )


def _parse_relation(
    r: object, field: str, entities: Sequence[Entity], position_of: Sequence[int], checks: _Checks
) -> Relation:
    """One raw relation, checked: a known type between two different existing entities."""
    fail = checks.fail
    rtype = checks.typed_object(r, field, ("type", "head", "tail"))
    known = checks.known_relations
    if known is not None and rtype not in known:
        raise fail(f"{field}.type", f"unknown relation type {rtype!r}; known: {sorted(known)}")
    for key in ("head", "tail"):
        value = r[key]
        if not is_index(value):
            raise fail(f"{field}.{key}", f"expected an entity index, found {value!r}")
        if not 0 <= value < len(position_of):
            raise fail(
                f"{field}.{key}",
                f"points at entity {value}, but the document has {len(position_of)} entities",
            )
    head, tail = entities[position_of[r["head"]]], entities[position_of[r["tail"]]]
    if head == tail:
        raise fail(field, f"self-relation: head and tail are both entity {r['head']}")
    return Relation(head, tail, rtype)


def _parse_relations(
    raw_relations: object,
    entities: Sequence[Entity],
    position_of: Sequence[int],
    checks: _Checks,
) -> list[Relation]:
    """The distinct relations; raw heads and tails index the raw entities."""
    if not isinstance(raw_relations, list):
        raise checks.fail("relations", "expected a list")
    relations: list[Relation] = []
    seen: dict[Relation, int] = {}
    for r_index, r in enumerate(raw_relations):
        field = f"relations[{r_index}]"
        relation = _parse_relation(r, field, entities, position_of, checks)
        if relation in seen:
            checks.merged.append(f"document {checks.index} {field} = relations[{seen[relation]}]")
            continue
        seen[relation] = r_index
        relations.append(relation)
    return relations


def write_documents(documents: Iterable[Document], path: str | Path) -> None:
    """Write documents in the common JSON format."""
    Path(path).write_text(json.dumps([d.to_json() for d in documents], ensure_ascii=False))
