"""Error analysis: causes of entity and relation errors, and links given gold entities."""

from __future__ import annotations

import pytest
import torch

from iter.data.document import Document, Entity, Relation
from iter.evaluation.analysis import (
    MISSED_ENTITY,
    MISSED_LINK,
    SPURIOUS_ENTITY,
    WRONG_BOUNDARY,
    WRONG_LINK,
    WRONG_TYPE,
    entity_errors,
    links_given_gold_entities,
    relation_errors,
)
from tests.conftest import tiny_model
from tests.modeling.test_model import toy_documents

WORDS = tuple(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])


def doc(entities, relations=()) -> Document:
    return Document(WORDS, tuple(entities), tuple(relations))


def test_each_relation_error_is_filed_under_its_first_cause():
    ann, bob, acme, paris, rome = (
        Entity(0, 1, "Peop"), Entity(2, 3, "Peop"), Entity(4, 6, "Org"),
        Entity(7, 8, "Loc"), Entity(9, 10, "Loc"),
    )  # fmt: skip
    gold = doc(
        [ann, bob, acme, paris, rome],
        [
            Relation(ann, acme, "Work_For"),  # ann missed altogether
            Relation(bob, paris, "Live_In"),  # found, but the link did not fire
            Relation(acme, rome, "OrgBased_In"),  # acme found one word short
            Relation(bob, rome, "Live_In"),  # rome found as Org
        ],
    )
    short_acme, rome_as_org, ghost = Entity(4, 5, "Org"), Entity(9, 10, "Org"), Entity(1, 2, "Peop")
    predicted = doc(
        [bob, short_acme, paris, rome_as_org, ghost],
        [
            Relation(short_acme, rome_as_org, "OrgBased_In"),  # wrong boundary (head first)
            Relation(ghost, paris, "Live_In"),  # spurious entity
            Relation(paris, bob, "Live_In"),  # both entities right, wrong direction
        ],
    )
    counts = relation_errors([gold], [predicted])
    assert counts.missed == {MISSED_ENTITY: 1, MISSED_LINK: 1, WRONG_BOUNDARY: 1, WRONG_TYPE: 1}
    assert counts.wrong == {WRONG_BOUNDARY: 1, SPURIOUS_ENTITY: 1, WRONG_LINK: 1}
    # A symmetric type in the other direction is no error at all.
    counts = relation_errors([gold], [predicted], symmetric_relation_types=["Live_In"])
    assert counts.wrong == {WRONG_BOUNDARY: 1, SPURIOUS_ENTITY: 1}
    assert counts.missed[MISSED_LINK] == 0


def test_entity_errors_by_cause():
    gold = doc([Entity(0, 2, "Peop"), Entity(3, 4, "Loc"), Entity(5, 6, "Org")])
    predicted = doc([Entity(0, 1, "Peop"), Entity(3, 4, "Org"), Entity(8, 9, "Loc")])
    counts = entity_errors([gold], [predicted])
    assert counts.missed == {WRONG_BOUNDARY: 1, WRONG_TYPE: 1, MISSED_ENTITY: 1}
    assert counts.wrong == {WRONG_BOUNDARY: 1, WRONG_TYPE: 1, SPURIOUS_ENTITY: 1}


@pytest.mark.parametrize("fire", [True, False])
def test_links_given_gold_entities_link_exactly_the_gold_spans(fire, minilm_tokenizer, monkeypatch):
    """The link step gets the gold spans; a head that fires exactly on the gold pairs scores
    1.0, one that never fires scores 0, and entities are gold either way."""
    model = tiny_model(minilm_tokenizer)
    docs = toy_documents()
    relation_index = {name: i for i, name in enumerate(model.config.relation_types)}
    real_link_logits = model.link_logits

    def gold_link_logits(hidden, spans, span_mask=None):
        logits = torch.full_like(real_link_logits(hidden, spans), -10.0)
        if not fire:
            return logits
        for b in range(spans.size(0)):
            # The batch holds the documents sorted by length; find each row's document.
            row_doc = row_documents[b]
            position = {tuple(s[:2]): i for i, s in enumerate(spans[b].tolist())}
            for relation in row_doc.relations:
                h = position[word_span_positions[id(row_doc)][relation.head]]
                t = position[word_span_positions[id(row_doc)][relation.tail]]
                logits[b, h, t, relation_index[relation.type]] = 10.0
        return logits

    from iter.data.collate import iterate_batches
    from iter.inference.documents import encode_for_model

    segments = encode_for_model(model, docs)
    batch = next(iterate_batches(segments, 32, minilm_tokenizer.pad_token_id))
    row_documents = [docs[i] for i in batch.doc_index]
    word_span_positions = {}
    for row, document in enumerate(row_documents):
        starts, ends = batch.start_positions[row], batch.end_positions[row]
        word_span_positions[id(document)] = {
            e: (starts[e.start], ends[e.end - 1]) for e in document.entities
        }
    monkeypatch.setattr(model, "link_logits", gold_link_logits)
    result = links_given_gold_entities(model, docs)
    assert result.ner.micro.f1 == 1.0
    assert result.re_plus.micro.f1 == (1.0 if fire else 0.0)
    assert result.re_plus.micro.support == sum(len(d.relations) for d in docs) > 0
