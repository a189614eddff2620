"""Gold in → gold out: encode annotations, build the logits a perfect model would emit,
decode them, map them back to words, and get exactly the gold annotations again."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iter.data.collate import iterate_batches
from iter.data.document import Document, Entity, Relation
from iter.data.encoding import encode_documents
from iter.data.reader import read_documents
from iter.inference.documents import to_word_annotations
from iter.modeling.candidates import candidate_pairs
from iter.modeling.decoding import decode_links, decode_spans


def required_depth(entities) -> int:
    starts = {e.start for e in entities}
    return max([sum(1 for s in starts if e.start <= s < e.end) for e in entities] or [1])


def oracle_decode(
    documents, tokenizer, entity_types, relation_types, symmetric=(), depth=1, max_length=512
):
    """Documents rebuilt from perfect logits, through the real encoding and decoding code."""
    encoded, _ = encode_documents(documents, tokenizer, entity_types, relation_types, max_length)
    segments = encoded.to_list()
    entities = [set() for _ in documents]
    relations = [set() for _ in documents]
    symmetric_mask = torch.tensor([r in symmetric for r in relation_types], dtype=torch.bool)
    for batch in iterate_batches(segments, 4, tokenizer.pad_token_id):
        b_size, length = batch.input_ids.shape
        gold_starts = torch.zeros(b_size, length, dtype=torch.bool)
        for b in range(b_size):
            for s, _, _ in batch.gold_spans[b][batch.gold_span_mask[b]].tolist():
                gold_starts[b, s] = True
        pairs = candidate_pairs(gold_starts, batch.end_mask, depth)
        span_logits = torch.full((pairs.batch.numel(), len(entity_types)), -10.0)
        pair_row = {
            key: row
            for row, key in enumerate(
                zip(pairs.batch.tolist(), pairs.start.tolist(), pairs.end.tolist(), strict=True)
            )
        }
        for b in range(b_size):
            for s, e, t in batch.gold_spans[b][batch.gold_span_mask[b]].tolist():
                assert (b, s, e) in pair_row, "gold span unreachable with this depth"
                span_logits[pair_row[(b, s, e)], t] = 10.0
        spans, span_mask, sentences = decode_spans(span_logits, pairs, b_size)
        if relation_types and spans.size(1):
            link_logits = torch.full(
                (b_size, spans.size(1), spans.size(1), len(relation_types)), -10.0
            )
            for b in range(b_size):
                decoded = {(s, e, t): i for i, (s, e, t, _) in enumerate(sentences[b].spans)}
                gold = batch.gold_spans[b].tolist()
                for h, t, r in batch.gold_links[b][batch.gold_link_mask[b]].tolist():
                    link_logits[b, decoded[tuple(gold[h])], decoded[tuple(gold[t])], r] = 10.0
            decode_links(link_logits, span_mask, symmetric_mask, 0.5, sentences)
        for row, sentence in enumerate(sentences):
            found_e, found_r = to_word_annotations(
                batch, row, sentence, entity_types, relation_types
            )
            entities[batch.doc_index[row]].update(found_e.keys())
            relations[batch.doc_index[row]].update(found_r.keys())
    return entities, relations


def test_conll04_dev_round_trips(shared_datasets, minilm_tokenizer):
    from tests.conftest import CONLL04_ENTITIES, CONLL04_RELATIONS

    docs = read_documents(shared_datasets / "conll04" / "dev.json")
    entities, relations = oracle_decode(docs, minilm_tokenizer, CONLL04_ENTITIES, CONLL04_RELATIONS)
    for doc, found_e, found_r in zip(docs, entities, relations, strict=True):
        assert found_e == set(doc.entities)
        assert found_r == set(doc.relations)


def test_nested_spans_sharing_ends_round_trip(minilm_tokenizer):
    words = [
        "the",
        "human",
        "interleukin",
        "-",
        "2",
        "receptor",
        "alpha",
        "gene",
        "promoter",
        "region",
    ]
    ents = (
        Entity(1, 5, "protein"),
        Entity(2, 5, "protein"),
        Entity(1, 8, "DNA"),
        Entity(1, 10, "DNA"),
    )
    doc = Document(tuple(words), ents, (Relation(ents[1], ents[3], "part"),))
    entities, relations = oracle_decode(
        [doc], minilm_tokenizer, ["DNA", "protein"], ["part"], depth=required_depth(ents)
    )
    assert entities[0] == set(ents)
    assert relations[0] == set(doc.relations)


def test_symmetric_relation_decoded_once(minilm_tokenizer):
    ents = (Entity(0, 1, "M"), Entity(2, 3, "M"))
    doc = Document(("CNNs", "and", "RNNs"), ents, (Relation(ents[1], ents[0], "Conj"),))
    _, relations = oracle_decode([doc], minilm_tokenizer, ["M"], ["Conj"], symmetric=("Conj",))
    assert len(relations[0]) == 1
    (found,) = relations[0]
    assert found.canonical(True) == doc.relations[0].canonical(True)


def test_overlong_sentence_split_into_windows_round_trips(minilm_tokenizer):
    words = tuple(f"word{i}" for i in range(300))
    ents = (Entity(5, 7, "A"), Entity(150, 152, "A"), Entity(290, 291, "A"))
    doc = Document(words, ents, (Relation(ents[0], ents[1], "r"),))
    encoded, report = encode_documents([doc], minilm_tokenizer, ["A"], ["r"], max_length=64)
    assert report.split_documents == 1 and len(encoded) > 1
    assert report.lost_entities == 0
    assert report.lost_relations == 1  # its two entities lie in different windows
    assert "split into word-aligned windows" in report.describe(64)
    entities, relations = oracle_decode([doc], minilm_tokenizer, ["A"], ["r"], max_length=64)
    assert entities[0] == set(ents)  # every entity comes back, at its original offsets
    assert relations[0] == set()


@st.composite
def annotated_documents(draw):
    n_words = draw(st.integers(1, 25))
    alphabet = st.sampled_from(["alpha", "beta", "x", "U.S.", ",", "interleukin-2", "Zürich", "a"])
    words = tuple(draw(st.lists(alphabet, min_size=n_words, max_size=n_words)))
    spans = draw(
        st.lists(
            st.tuples(st.integers(0, n_words - 1), st.integers(1, 4), st.sampled_from(["A", "B"])),
            max_size=8,
        )
    )
    by_span: dict[tuple[int, int], str] = {}
    for start, width, etype in spans:
        by_span.setdefault((start, min(n_words, start + width)), etype)  # one type per span
    entities = tuple(Entity(s, e, t) for (s, e), t in sorted(by_span.items()))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, 7), st.integers(0, 7), st.sampled_from(["r", "q"])), max_size=6
        )
    )
    relations = {
        Relation(entities[h], entities[t], r)
        for h, t, r in pairs
        if h < len(entities) and t < len(entities) and h != t
    }
    return Document(words, entities, tuple(sorted(relations)))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=annotated_documents())
def test_random_flat_and_nested_annotations_round_trip(doc, minilm_tokenizer):
    depth = required_depth(doc.entities)
    entities, relations = oracle_decode(
        [doc], minilm_tokenizer, ["A", "B"], ["q", "r"], depth=depth
    )
    assert entities[0] == set(doc.entities)
    assert relations[0] == set(doc.relations)
