"""The batched losses equal the method's losses written out pair by pair, and the loss
functions give hand-computed values on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from iter.data.collate import iterate_batches
from iter.data.document import Document, Entity, Relation
from iter.data.encoding import encode_documents
from tests.conftest import tiny_model


def lse(values) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


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



def pair_logits(head, left: torch.Tensor, right: torch.Tensor) -> list[float]:
    """A pair head's logits for the concatenation [left; right], computed the plain way."""
    pair = torch.cat((left, right))
    gate, inner = torch.nn.functional.linear(pair, head.gate_inner.weight).chunk(2)
    return head.out(head.act(gate) * inner).tolist()


def encoded_batch(model, tokenizer):
    encoded, _ = encode_documents(
        nested_documents(), tokenizer, model.config.entity_types,
        model.config.relation_types, 128,
    )  # fmt: skip
    return next(iterate_batches(encoded.to_list(), 2, tokenizer.pad_token_id))


def gold_of(batch) -> list[dict[tuple[int, int], set[int]]]:
    gold = [{} for _ in range(len(batch))]
    for b in range(len(batch)):
        for s, e, t in batch.gold_spans[b][batch.gold_span_mask[b]].tolist():
            gold[b].setdefault((s, e), set()).add(t)
    return gold


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_start_and_span_losses_equal_explicit_sums(depth, minilm_tokenizer):
    model = tiny_model(minilm_tokenizer, nesting_depth=depth).eval()
    batch = encoded_batch(model, minilm_tokenizer)
    inputs = batch.model_inputs("cpu")
    with torch.no_grad():
        output = model(**inputs)
        hidden = model.encode(inputs["input_ids"], inputs["attention_mask"])
        start_logits = model.start_head(hidden).squeeze(-1)
    gold = gold_of(batch)

    # Step 1: a logit against a fixed 0 at every position where a span may start, summed.
    start_terms = [
        bce(start_logits[b, j].item(), float(any(s == j for s, _ in gold[b])))
        for b in range(2)
        for j in range(batch.input_ids.size(1))
        if batch.start_mask[b, j]
    ]
    assert output.start_loss.item() == pytest.approx(sum(start_terms), 1e-5)

    # Step 2: every allowed end with each of its `depth` closest gold starts.
    span_terms = []
    for b in range(2):
        gold_starts = sorted({s for s, _ in gold[b]})
        gold_ends = {e for _, e in gold[b]}
        for j in range(batch.input_ids.size(1)):
            if not batch.end_mask[b, j]:
                continue
            for s in [s for s in gold_starts if s <= j][::-1][:depth]:
                logits = pair_logits(model.span_head, hidden[b, s], hidden[b, j])
                types = gold[b].get((s, j), set())
                if depth == 1:
                    if not types and j in gold_ends:
                        # A gold span ends here whose start is hidden by a closer gold
                        # start (nested data at depth 1): not a target, left out.
                        continue
                    # Softmax over "no span" (0) and the types.
                    chosen = [logits[t] for t in types] if types else [0.0]
                    span_terms.append(lse([0.0, *logits]) - lse(chosen))
                else:
                    # Softmax over "no action" (0), the types and NONE (last).
                    if types:
                        chosen = [logits[t] for t in types]
                    elif j in gold_ends:
                        chosen = [logits[-1]]
                    else:
                        chosen = [0.0, logits[-1]]
                    span_terms.append(lse([0.0, *logits]) - lse(chosen))
    assert len(span_terms) > 10
    assert output.span_loss.item() == pytest.approx(sum(span_terms), 1e-5)


@pytest.mark.parametrize(
    ("depth", "representation", "typed", "inverse"),
    [(1, "end", False, False), (2, "start_end_sum", False, False),
     (1, "start_end_sum", False, False), (1, "end", True, False),
     (2, "start_end_sum", True, False), (1, "end", False, True),
     (2, "start_end_sum", False, True), (1, "max_pool_width", False, False),
     (2, "max_pool_width", True, False)],
)  # fmt: skip
def test_dense_link_loss_equals_explicit_sum(
    depth, representation, typed, inverse, minilm_tokenizer
):
    """Every non-padding position (or, spans seen by start and end, each position with each
    of its closest gold starts) is a head for every gold tail; positions that end no span
    are negatives. With ``link_type_embedding`` a span's state adds its gold type's
    embedding (the last row for heads that are no gold span). With ``inverse_link_types``
    the head has a second output per type, positive for the reverse of a directed link."""
    model = tiny_model(
        minilm_tokenizer, nesting_depth=depth, symmetric=("Live_In",),
        span_representation=representation, link_type_embedding=typed,
        inverse_link_types=inverse,
    ).eval()  # fmt: skip
    relations = len(model.config.relation_types)
    none_type = len(model.config.entity_types)
    by_end = representation == "end"
    batch = encoded_batch(model, minilm_tokenizer)
    inputs = batch.model_inputs("cpu")
    with torch.no_grad():
        output = model(**inputs)
        hidden = model.encode(inputs["input_ids"], inputs["attention_mask"])
    terms = []
    negatives_off_spans = 0
    for b in range(len(batch)):
        spans = batch.gold_spans[b][batch.gold_span_mask[b]].tolist()
        links = batch.gold_links[b][batch.gold_link_mask[b]].tolist()
        positive = {(tuple(spans[h][:2]), t, r) for h, t, r in links}
        # Live_In is symmetric: it also holds from its tail to its head.
        positive |= {
            (tuple(spans[t][:2]), h, r)
            for h, t, r in links
            if model.config.relation_types[r] == "Live_In"
        }
        if inverse:  # a directed link's reverse is its type's inverse, the last R outputs
            positive |= {
                (tuple(spans[t][:2]), h, r + relations)
                for h, t, r in links
                if model.config.relation_types[r] != "Live_In"
            }
        gold_starts = sorted({s for s, _, _ in spans})

        def state(start: int, end: int, b: int = b, spans: list = spans) -> torch.Tensor:
            if representation == "max_pool_width":  # the span's maximum, plus its width
                width = model.span_width_embedding.weight[min(end - start + 1, 32)]
                out = hidden[b, start : end + 1].max(dim=0).values + width
            else:
                out = hidden[b, end] if by_end else hidden[b, end] + hidden[b, start]
            if typed:
                types = [t for s, e, t in spans if e == end and (by_end or s == start)]
                out = out + model.link_type_embedding.weight[(types or [none_type])[0]]
            return out

        for n in range(batch.input_ids.size(1)):
            if not batch.attention_mask[b, n]:
                continue
            if by_end:
                heads = [(None, n)]
            else:
                heads = [(s, n) for s in [s for s in gold_starts if s <= n][::-1][:depth]]
            for start, end in heads:
                for tail, (ts, te, _) in enumerate(spans):
                    logits = pair_logits(model.link_head, state(ts, te), state(start, end))
                    assert len(logits) == relations * (2 if inverse else 1)
                    for r, x in enumerate(logits):
                        target = any(
                            (h[1] == end if by_end else h == (start, end))
                            and t == tail
                            and rr == r
                            for h, t, rr in positive
                        )
                        terms.append(bce(x, float(target)))
                    negatives_off_spans += all(end != e for _, e, _ in spans)
    assert negatives_off_spans > 0
    assert output.link_loss.item() == pytest.approx(sum(terms), 1e-5)


def test_gold_link_pairs_and_mean_reduction(minilm_tokenizer):
    """The earlier objective's options: gold x gold link pairs, per-element means."""
    dense = tiny_model(minilm_tokenizer).eval()
    gold_only = tiny_model(minilm_tokenizer, link_pairs="gold", loss_reduction="mean").eval()
    batch = encoded_batch(dense, minilm_tokenizer)
    with torch.no_grad():
        a = dense(**batch.model_inputs("cpu"))
        b = gold_only(**batch.model_inputs("cpu"))
        hidden = dense.encode(batch.input_ids, batch.attention_mask)
    row = int(batch.gold_span_mask.sum(dim=1).argmax())
    spans = batch.gold_spans[row][batch.gold_span_mask[row]].tolist()
    links = batch.gold_links[row][batch.gold_link_mask[row]].tolist()
    # Flat spans are their ends: two gold spans ending at one position are one head.
    head_ends = sorted({e for _, e, _ in spans})
    terms = [
        bce(x, float(any(spans[h][1] == he and t == tail and rr == r for h, t, rr in links)))
        for he in head_ends
        for tail, (_, te, _) in enumerate(spans)
        for r, x in enumerate(pair_logits(dense.link_head, hidden[row, te], hidden[row, he]))
    ]
    # The other sentence has no spans, so this one's pairs are all there is.
    assert b.link_loss.item() == pytest.approx(sum(terms) / len(terms), 1e-5)
    assert a.link_loss.item() > b.link_loss.item() * len(terms)


def test_batch_reduction_divides_the_sum_by_the_batch_size(minilm_tokenizer):
    summed = tiny_model(minilm_tokenizer).eval()
    per_batch = tiny_model(minilm_tokenizer, loss_reduction="batch").eval()
    batch = encoded_batch(summed, minilm_tokenizer)
    with torch.no_grad():
        a = summed(**batch.model_inputs("cpu"))
        b = per_batch(**batch.model_inputs("cpu"))
    assert b.loss.item() == pytest.approx(a.loss.item() / 2, 1e-5)


# ----------------------------------------------------------- the loss functions, by hand
def test_flat_span_loss_by_hand():
    from iter.modeling.losses import flat_span_loss

    logits = torch.tensor([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]])
    gold = torch.tensor([[False, True], [False, False], [False, False]])
    ends_gold = torch.tensor([True, False, True])
    total, count = flat_span_loss(logits, gold, ends_gold)
    # Row 0: gold type 1; row 1: no span ends there, "none" is gold; row 2: a gold span
    # ends there but its start is not the candidate: left out.
    expected = (lse([0, 1, -2]) - (-2)) + (lse([0, 0.5, 0]) - 0)
    assert count == 2
    assert total.item() == pytest.approx(expected, 1e-6)


def test_nested_span_loss_by_hand():
    from iter.modeling.losses import nested_span_loss

    # Two types and NONE last.
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, -1.0], [0.5, 0.5, 0.5]])
    gold = torch.tensor([[True, False], [False, False], [False, False]])
    ends_gold = torch.tensor([True, True, False])
    total, count = nested_span_loss(logits, gold, ends_gold)
    expected = (
        (lse([0, 2, 0, 1]) - 2)  # a gold span of type 0
        + (lse([0, 0, 1, -1]) - (-1))  # a gold span ends here, but not this one: NONE
        + (lse([0, 0.5, 0.5, 0.5]) - lse([0, 0.5]))  # nothing ends here: no action or NONE
    )
    assert count == 3
    assert total.item() == pytest.approx(expected, 1e-6)


def test_span_decisions_follow_the_objective():
    from iter.modeling.decoding import span_decisions

    # Both type logits are negative, but together they beat "no span" (lse = 0.19 > 0).
    logits = torch.tensor([[-0.5, -0.5], [-1.0, -3.0]])
    emit, types, scores = span_decisions(logits, "flat")
    assert emit.tolist() == [True, False]
    assert scores[0].item() == pytest.approx(math.exp(-0.5) / (1 + 2 * math.exp(-0.5)), 1e-6)
    emit, _, _ = span_decisions(logits, "sigmoid")
    assert emit.tolist() == [False, False]
    nested = torch.tensor([[-3.0, -2.0, -2.5], [1.0, 0.0, 2.0]])
    emit, types, _ = span_decisions(nested, "nested")
    assert emit.tolist() == [True, False]  # a type beats NONE, however low both are
    assert types.tolist()[0] == 1
