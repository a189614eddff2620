"""The batched losses equal the method's losses written out pair by pair."""

from __future__ import annotations

import math

import pytest
import torch

from iter.data.collate import iterate_batches
from iter.data.document import Document, Entity, Relation
from iter.data.encoding import encode_documents
from tests.conftest import tiny_model


def bce(logit: float, target: float) -> float:
    probability = 1 / (1 + math.exp(-logit))
    return -(target * math.log(probability) + (1 - target) * math.log(1 - probability))


def nested_documents() -> list[Document]:
    words = tuple(
        [
            "the",
            "chief",
            "of",
            "the",
            "Acme",
            "Corporation",
            "board",
            "met",
            "Mary",
            "Smith",
            "in",
            "Boston",
        ]
    )
    acme = Entity(4, 6, "Org")
    board = Entity(3, 7, "Org")
    chief = Entity(0, 7, "Peop")
    mary = Entity(8, 10, "Peop")
    boston = Entity(11, 12, "Loc")
    second = tuple(["nothing", "to", "see", "here"])
    return [
        Document(
            words,
            (acme, board, chief, mary, boston),
            (Relation(acme, boston, "OrgBased_In"), Relation(mary, boston, "Live_In")),
        ),
        Document(second, (), ()),
    ]


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_start_and_span_losses_equal_explicit_sums(depth, minilm_tokenizer):
    model = tiny_model(minilm_tokenizer, nesting_depth=depth).eval()
    encoded, _ = encode_documents(
        nested_documents(), minilm_tokenizer, model.config.entity_types,
        model.config.relation_types, 128,
    )  # fmt: skip
    batch = next(iterate_batches(encoded.to_list(), 2, minilm_tokenizer.pad_token_id))
    inputs = batch.model_inputs("cpu")
    with torch.no_grad():
        output = model(**inputs)
        hidden = model.encode(inputs["input_ids"], inputs["attention_mask"])
        start_logits = model.start_head(hidden).squeeze(-1)
    gold = [
        {(s, e): set() for s, e, _ in batch.gold_spans[b][batch.gold_span_mask[b]].tolist()}
        for b in range(2)
    ]
    for b in range(2):
        for s, e, t in batch.gold_spans[b][batch.gold_span_mask[b]].tolist():
            gold[b][(s, e)].add(t)

    # Step 1: every position where a span may start.
    start_terms = [
        bce(start_logits[b, j].item(), float(any(s == j for s, _ in gold[b])))
        for b in range(2)
        for j in range(batch.input_ids.size(1))
        if batch.start_mask[b, j]
    ]
    assert output.start_loss.item() == pytest.approx(sum(start_terms) / len(start_terms), 1e-5)

    # Step 2: every allowed end with each of its `depth` closest gold starts.
    head = model.span_head
    span_terms = []
    for b in range(2):
        gold_starts = sorted({s for s, _ in gold[b]})
        for j in range(batch.input_ids.size(1)):
            if not batch.end_mask[b, j]:
                continue
            for s in [s for s in gold_starts if s <= j][::-1][:depth]:
                pair = torch.cat((hidden[b, s], hidden[b, j]))
                gate, inner = torch.nn.functional.linear(pair, head.gate_inner.weight).chunk(2)
                logits = head.out(head.act(gate) * inner)
                types = gold[b].get((s, j), set())
                span_terms += [bce(x, float(t in types)) for t, x in enumerate(logits.tolist())]
    assert output.span_loss.item() == pytest.approx(sum(span_terms) / len(span_terms), 1e-5)
