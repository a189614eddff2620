"""Mention replacement: training sentences whose entity mentions are swapped for others.

Each epoch, every entity mention of a training document is replaced, with probability
``rate``, by another mention of the same type drawn from the training set (Dai & Adel,
"An Analysis of Simple Data Augmentation for Named Entity Recognition", COLING 2020).
Relations follow their entities, so ``Kill(Oswald, Kennedy)`` may be seen as
``Kill(Booth, Lincoln)``: the link step has to read the words around the names rather than
remember which names were linked. The draw depends only on the seed, the epoch and the
document's position, so a resumed run sees the same sentences as an uninterrupted one.

Only mentions that overlap no other entity are replaced: in nested data the words of an
inner mention belong to its outer one too, and swapping them would change both.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from iter.data.document import Document, Entity, Relation


class MentionReplacement:
    """Replaces entity mentions by same-type mentions of the training documents."""

    def __init__(self, documents: Sequence[Document], rate: float, seed: int) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"the replacement rate must be in [0, 1], got {rate}")
        self.rate = rate
        self.seed = seed
        pools: dict[str, set[tuple[str, ...]]] = {}
        for doc in documents:
            for entity in doc.entities:
                pools.setdefault(entity.type, set()).add(doc.tokens[entity.start : entity.end])
        # Sorted, so that the draws do not depend on the set's hash order.
        self.mentions = {kind: sorted(found) for kind, found in pools.items()}

    def epoch(self, documents: Sequence[Document], epoch: int) -> list[Document]:
        """The documents as the given epoch trains on them."""
        if self.rate == 0:
            return list(documents)
        return [
            self.replace(doc, random.Random(f"{self.seed}/{epoch}/{index}"))
            for index, doc in enumerate(documents)
        ]

    def replace(self, doc: Document, draw: random.Random) -> Document:
        """``doc`` with each replaceable mention swapped with probability ``rate``."""
        replacements: dict[Entity, tuple[str, ...]] = {}
        for entity in doc.entities:
            if any(entity.overlaps(other) for other in doc.entities if other != entity):
                continue
            words = doc.tokens[entity.start : entity.end]
            others = self.mentions.get(entity.type, [])
            if draw.random() >= self.rate or len(others) < 2:
                continue
            choice = others[draw.randrange(len(others))]
            if choice == words:  # drawn itself: take the next one, so a swap always changes
                choice = others[(others.index(choice) + 1) % len(others)]
            replacements[entity] = choice
        if not replacements:
            return doc
        return _rewrite(doc, replacements)


def _rewrite(doc: Document, replacements: dict[Entity, tuple[str, ...]]) -> Document:
    """The document with the given entities' words replaced and every span moved to match."""
    tokens: list[str] = []
    new_index = {}  # old word index -> new word index, for the words that are kept
    position = 0
    spans = sorted(replacements, key=lambda e: e.start)
    moved: dict[Entity, Entity] = {}
    for entity in spans:
        for index in range(position, entity.start):
            new_index[index] = len(tokens)
            tokens.append(doc.tokens[index])
        start = len(tokens)
        tokens.extend(replacements[entity])
        moved[entity] = Entity(start, len(tokens), entity.type)
        position = entity.end
    for index in range(position, len(doc.tokens)):
        new_index[index] = len(tokens)
        tokens.append(doc.tokens[index])
    new_index[len(doc.tokens)] = len(tokens)

    def move(entity: Entity) -> Entity:
        if entity in moved:
            return moved[entity]
        # Not replaced, so it overlaps no replaced mention: its words were all kept.
        return Entity(new_index[entity.start], new_index[entity.end - 1] + 1, entity.type)

    entities = tuple(move(e) for e in doc.entities)
    relations = tuple(Relation(move(r.head), move(r.tail), r.type) for r in doc.relations)
    # replace() keeps every other field (id, context, source document) as it is.
    return dataclasses.replace(doc, tokens=tuple(tokens), entities=entities, relations=relations)
