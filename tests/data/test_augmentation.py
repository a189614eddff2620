"""Mention replacement: spans and relations follow the swapped words; draws are reproducible."""

from __future__ import annotations

import random

import pytest

from iter.data.augmentation import MentionReplacement
from iter.data.document import Document, Entity, Relation


def killing(killer: tuple[str, ...], victim: tuple[str, ...]) -> Document:
    """``<killer> shot <victim> in Dallas .`` with Kill(killer, victim) and a location."""
    tokens = (*killer, "shot", *victim, "in", "Dallas", ".")
    head = Entity(0, len(killer), "Peop")
    tail = Entity(len(killer) + 1, len(killer) + 1 + len(victim), "Peop")
    dallas = Entity(tail.end + 1, tail.end + 2, "Loc")
    return Document(tokens, (head, tail, dallas), (Relation(head, tail, "Kill"),), id="d")


def corpus() -> list[Document]:
    return [
        killing(("Oswald",), ("Kennedy",)),
        killing(("John", "Wilkes", "Booth"), ("Lincoln",)),
        Document(("Paris", "is", "big"), (Entity(0, 1, "Loc"),)),
    ]


def test_rate_zero_trains_on_the_documents_as_they_are():
    docs = corpus()
    assert MentionReplacement(docs, 0.0, seed=1).epoch(docs, 3) == docs


def test_every_mention_is_swapped_for_another_of_its_type_and_spans_follow():
    docs = corpus()
    augmentation = MentionReplacement(docs, 1.0, seed=1)
    for original, swapped in zip(docs, augmentation.epoch(docs, 0), strict=True):
        assert [e.type for e in swapped.entities] == [e.type for e in original.entities]
        for before, after in zip(original.entities, swapped.entities, strict=True):
            words = swapped.tokens[after.start : after.end]
            assert words != original.tokens[before.start : before.end]
            assert words in augmentation.mentions[after.type]
        # The words between the mentions are kept, in order.
        kept = [t for t in swapped.tokens if t in {"shot", "in", ".", "is", "big"}]
        assert kept == [t for t in original.tokens if t in {"shot", "in", ".", "is", "big"}]
        for relation in swapped.relations:
            assert relation.head in swapped.entities and relation.tail in swapped.entities
            assert relation.type == "Kill"


def test_spans_after_a_longer_mention_move_by_its_extra_words():
    oswald = killing(("Oswald",), ("Kennedy",))
    augmentation = MentionReplacement([oswald], 1.0, seed=1)
    augmentation.mentions["Peop"] = [("John", "Wilkes", "Booth"), ("Oswald",)]
    head = oswald.entities[0]

    class FirstReplacedOnly(random.Random):
        """Swaps only the first mention it is asked about, for the first pool entry."""

        calls = 0

        def random(self) -> float:
            self.calls += 1
            return 0.0 if self.calls == 1 else 1.0

        def randrange(self, n: int) -> int:
            return 0

    swapped = augmentation.replace(oswald, FirstReplacedOnly())
    assert swapped.tokens == (
        "John", "Wilkes", "Booth", "shot", "Kennedy", "in", "Dallas", ".",
    )  # fmt: skip
    assert swapped.entities == (
        Entity(0, 3, "Peop"), Entity(4, 5, "Peop"), Entity(6, 7, "Loc"),
    )  # fmt: skip
    assert swapped.relations == (Relation(Entity(0, 3, "Peop"), Entity(4, 5, "Peop"), "Kill"),)
    assert oswald.entities[0] == head  # the original is untouched


def test_overlapping_mentions_are_left_as_they_are():
    outer = Entity(0, 3, "Org")
    inner = Entity(2, 3, "Loc")
    nested = Document(("University", "of", "Texas", "won"), (outer, inner))
    other = Document(("Rome",), (Entity(0, 1, "Loc"),))
    augmentation = MentionReplacement([nested, other], 1.0, seed=1)
    assert augmentation.epoch([nested], 0) == [nested]


def test_each_epoch_has_its_own_reproducible_draw():
    docs = corpus() * 5
    augmentation = MentionReplacement(docs, 0.5, seed=7)
    first = augmentation.epoch(docs, 0)
    assert MentionReplacement(docs, 0.5, seed=7).epoch(docs, 0) == first
    assert augmentation.epoch(docs, 1) != first
    assert MentionReplacement(docs, 0.5, seed=8).epoch(docs, 0) != first


def test_a_rate_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\], got 1.5"):
        MentionReplacement(corpus(), 1.5, seed=1)
