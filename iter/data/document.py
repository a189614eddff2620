"""Small immutable domain objects: a document, its entities and the relations between them.

Spans are word-level and end-exclusive, as in the common JSON format. A relation holds its
entities themselves rather than indices, so two relations are equal exactly when their
types and both spans (with types) are equal, whatever order the entities were listed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Entity:
    """A typed word span ``[start, end)``."""

    start: int
    end: int
    type: str

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)

    def overlaps(self, other: Entity) -> bool:
        return self.start < other.end and other.start < self.end

    def to_json(self) -> dict:
        return {"type": self.type, "start": self.start, "end": self.end}


@dataclass(frozen=True, order=True)
class Relation:
    """A typed, directed link from ``head`` to ``tail``."""

    head: Entity
    tail: Entity
    type: str

    def canonical(self, symmetric: bool) -> Relation:
        """The form used for comparison: symmetric relations are ordered by span."""
        if symmetric and (self.tail.start, self.tail.end) < (self.head.start, self.head.end):
            return Relation(self.tail, self.head, self.type)
        return self


@dataclass(frozen=True)
class Document:
    """One sentence (or passage) with its gold or predicted annotations.

    ``left_context`` / ``right_context`` hold neighbouring words that the encoder sees but that
    are never annotated or scored (cross-sentence context).
    """

    tokens: tuple[str, ...]
    entities: tuple[Entity, ...] = ()
    relations: tuple[Relation, ...] = ()
    id: str | None = field(default=None, compare=False)
    left_context: tuple[str, ...] = field(default=(), compare=False)
    right_context: tuple[str, ...] = field(default=(), compare=False)
    # The source document a sentence belongs to, when known: context never crosses it.
    doc_key: str | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.tokens)

    def text_of(self, entity: Entity) -> str:
        return " ".join(self.tokens[entity.start : entity.end])

    def with_annotations(
        self, entities: tuple[Entity, ...], relations: tuple[Relation, ...]
    ) -> Document:
        """The same words with other annotations (used for predictions)."""
        return Document(
            self.tokens,
            tuple(entities),
            tuple(relations),
            self.id,
            self.left_context,
            self.right_context,
            self.doc_key,
        )

    def to_json(self) -> dict:
        """The common JSON format (relations index into ``entities``)."""
        index = {entity: i for i, entity in enumerate(self.entities)}
        out = {
            "tokens": list(self.tokens),
            "entities": [e.to_json() for e in self.entities],
            "relations": [
                {"type": r.type, "head": index[r.head], "tail": index[r.tail]}
                for r in self.relations
            ],
        }
        if self.id is not None:
            out["id"] = self.id
        if self.doc_key is not None:
            out["doc_key"] = self.doc_key
        return out


def relation_signatures(documents: Iterable[Document]) -> list[list[str]]:
    """Every (head type, relation type, tail type) triple the documents' relations take,
    sorted: what ``model.signature_constraint`` lets decoding link."""
    seen = {(r.head.type, r.type, r.tail.type) for doc in documents for r in doc.relations}
    return [list(triple) for triple in sorted(seen)]
