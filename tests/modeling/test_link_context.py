"""The link-context and link-distance options: pooled states between a pair's spans and the
bucket of their distance, hand-checked."""

from __future__ import annotations

import pytest
import torch

from iter import ITERConfig
from iter.data.collate import iterate_batches
from iter.data.encoding import encode_documents
from iter.inference.documents import predict_documents
from iter.modeling.link_context import (
    LINK_DISTANCE_BUCKETS,
    TailContext,
    distance_buckets,
    running_max,
)
from tests.conftest import tiny_model
from tests.modeling.test_model import toy_documents


def test_context_is_the_max_strictly_between_tail_span_and_head_end():
    # One sentence of 8 positions, width 2; state i is (i, -i) so the max is readable.
    positions = torch.arange(8, dtype=torch.float)
    hidden = torch.stack([positions, -positions], dim=-1)[None]  # [1, 8, 2]
    hidden[0, 4] = torch.tensor([-5.0, 9.0])  # a position whose second feature wins
    # Tail span [3, 4]: heads ending at 7 (after), 0 (before), 5 and 2 (adjacent), 4 (inside).
    context = TailContext(hidden, torch.tensor([0]), torch.tensor([3]), torch.tensor([4]))
    heads = torch.tensor([7, 0, 5, 2, 4])
    between = context.between(torch.zeros(5, dtype=torch.long), heads)
    expected = torch.tensor(
        [
            [6.0, -5.0],  # positions 5, 6
            [2.0, -1.0],  # positions 1, 2
            [0.0, 0.0],
            [0.0, 0.0],
            [0.0, 0.0],
        ]
    )
    torch.testing.assert_close(between, expected)
    # The tail span's own states never enter: position 4's 9.0 is in no context above,
    # but it is when the tail is elsewhere.
    other = TailContext(hidden, torch.tensor([0]), torch.tensor([1]), torch.tensor([1]))
    assert other.between(torch.tensor([0]), torch.tensor([6])).tolist() == [[5.0, 9.0]]


def test_context_gradient_reaches_the_pooled_states_only():
    hidden = torch.randn(1, 6, 3, requires_grad=True)
    context = TailContext(hidden, torch.tensor([0]), torch.tensor([0]), torch.tensor([0]))
    context.between(torch.tensor([0]), torch.tensor([4])).sum().backward()
    # Positions 1-3 lie between; each feature's max is one of them.
    touched = hidden.grad[0].abs().sum(-1) > 0
    assert touched[[0, 4, 5]].tolist() == [False, False, False]
    assert int((hidden.grad[0, 1:4] != 0).sum()) == 3


@pytest.mark.parametrize("length", [1, 2, 5, 8, 33])
def test_running_max_equals_cummax_both_ways(length):
    states = torch.randn(3, length, 4)
    states[1, : length // 2] = torch.finfo(states.dtype).min  # masked stretches, as in use
    torch.testing.assert_close(running_max(states), states.cummax(dim=1).values, rtol=0, atol=0)
    backwards = states.flip(1).cummax(dim=1).values.flip(1)
    torch.testing.assert_close(running_max(states, reverse=True), backwards, rtol=0, atol=0)


def test_unknown_link_context_stops_with_one_line():
    with pytest.raises(ValueError, match=r"model\.link_context must be one of none, max"):
        ITERConfig(entity_types=["A"], link_context="mean")


def test_model_with_link_context_trains_and_decodes(minilm_tokenizer, tmp_path):
    from iter import ITERForRelationExtraction

    model = tiny_model(minilm_tokenizer, link_context="max")
    docs = toy_documents()
    encoded, _ = encode_documents(
        docs, minilm_tokenizer, model.config.entity_types, model.config.relation_types, 128
    )
    batch = next(iterate_batches(encoded.to_list(), 2, minilm_tokenizer.pad_token_id))
    model(**batch.model_inputs("cpu")).loss.backward()
    assert model.link_head.context.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        hidden = model.encode(batch.input_ids, batch.attention_mask)
        spans = batch.gold_spans
        masked = model.link_logits(hidden, spans, batch.gold_span_mask)
        padded = model.link_logits(hidden, spans)
        # Moving the states between the spans moves the logits of a pair that has some.
        shifted = hidden.clone()
        shifted[0, 4:7] += 3.0
        moved = model.link_logits(shifted, spans)
    mask = batch.gold_span_mask
    valid = mask[:, :, None] & mask[:, None, :] & ~torch.eye(mask.size(1), dtype=torch.bool)
    torch.testing.assert_close(masked[valid], padded[valid])
    # Booth (words 0-2) and Lincoln (word 7) have words 3-6 between them.
    assert not torch.allclose(moved[0, 1, 0], padded[0, 1, 0])
    predict_documents(model, docs)
    model.save_pretrained(tmp_path)
    loaded = ITERForRelationExtraction.from_pretrained(tmp_path).eval()
    assert loaded.config.link_context == "max"
    with torch.no_grad():
        torch.testing.assert_close(loaded.link_logits(hidden, spans), padded)


def test_distance_buckets_by_side_and_log_magnitude():
    # Tail span [5, 7]; heads ending inside it, after it (1, 2, 3, 4, 5 tokens, and far) and
    # before it (1, 2, 4 tokens).
    heads = torch.tensor([5, 6, 7, 8, 9, 10, 11, 12, 100, 4, 3, 1])
    buckets = distance_buckets(torch.full_like(heads, 5), torch.full_like(heads, 7), heads)
    assert buckets.tolist() == [0, 0, 0, 1, 2, 3, 3, 4, 7, 8, 9, 10]
    far = distance_buckets(torch.tensor([500]), torch.tensor([500]), torch.tensor([0]))
    assert far.tolist() == [LINK_DISTANCE_BUCKETS - 1]


def test_link_distance_bias_moves_exactly_the_pairs_at_its_distance(minilm_tokenizer):
    """Pair (head h, tail t) of one-token spans: only the pairs whose head ends one token
    after the tail (bucket 1) change when bucket 1's bias does."""
    model = tiny_model(minilm_tokenizer, link_distance=True).eval()
    hidden = torch.randn(1, 9, model.config.encoder_config["hidden_size"])
    spans = torch.stack([torch.arange(9), torch.arange(9)], dim=-1)[None]
    with torch.no_grad():
        before = model.link_logits(hidden, spans)
        model.link_distance_bias.weight[1] += 1.0
        after = model.link_logits(hidden, spans)
    moved = (after != before).any(-1)[0]
    heads, tails = torch.meshgrid(torch.arange(9), torch.arange(9), indexing="ij")
    assert torch.equal(moved, heads - tails == 1)


def test_model_with_link_distance_saves_and_loads_its_bias(minilm_tokenizer, tmp_path):
    model = tiny_model(minilm_tokenizer, link_distance=True)
    assert model.link_distance_bias.weight.shape == (
        LINK_DISTANCE_BUCKETS,
        2 * model.config.pair_d_ff,
    )
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path)
    assert loaded.config.link_distance is True
    torch.testing.assert_close(loaded.link_distance_bias.weight, model.link_distance_bias.weight)
    assert tiny_model(minilm_tokenizer).link_distance_bias is None
