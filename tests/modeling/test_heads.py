"""The factored pair heads equal a gated feed-forward block over concatenated states."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from iter.modeling.candidates import closest_starts
from iter.modeling.heads import GatedPairFeedForward
from tests.conftest import tiny_model


def concat_ffn(head: GatedPairFeedForward, left: torch.Tensor, right: torch.Tensor):
    """The textbook form: W_o(act(W_g [a; b]) * (W_i [a; b]))."""
    x = torch.cat((left, right), dim=-1)
    gate, inner = F.linear(x, head.gate_inner.weight).chunk(2, dim=-1)
    return head.out(head.act(gate) * inner)


def test_pair_head_equals_concatenation():
    torch.manual_seed(0)
    head = GatedPairFeedForward(8, 16, 3, dropout=0.0, activation="gelu").eval()
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    left, right = head.project(a)[0], head.project(b)[1]
    torch.testing.assert_close(head.score(left, right), concat_ffn(head, a, b))
    torch.testing.assert_close(head.project_left(a), left)
    torch.testing.assert_close(head.project_right(b), right)


def test_span_logits_equal_explicit_pairs(minilm_tokenizer):
    model = tiny_model(minilm_tokenizer, nesting_depth=2).eval()
    torch.manual_seed(1)
    hidden = torch.randn(3, 9, 32)
    starts = torch.rand(3, 9) > 0.6
    starts[2] = False  # a sentence without any start
    end_mask = torch.rand(3, 9) > 0.3
    logits, pairs = model.span_logits(hidden, starts, end_mask)
    candidates, valid = closest_starts(starts, 2)
    expected_pairs = [
        (b, candidates[b, j, m].item(), j)
        for b in range(3)
        for j in range(9)
        for m in range(2)
        if valid[b, j, m] and end_mask[b, j]
    ]
    found = list(zip(pairs.batch.tolist(), pairs.start.tolist(), pairs.end.tolist(), strict=True))
    assert found == expected_pairs  # every allowed pair once, in (batch, end, closest) order
    for row, (b, s, j) in enumerate(found):
        torch.testing.assert_close(
            logits[row], concat_ffn(model.span_head, hidden[b, s], hidden[b, j])
        )
    keys = pairs.keys(9)
    assert torch.equal(keys, keys.sort().values)  # the losses' binary search relies on it
    assert not (pairs.batch == 2).any()


def test_span_logits_without_any_start(minilm_tokenizer):
    model = tiny_model(minilm_tokenizer).eval()
    hidden = torch.randn(2, 5, 32)
    none = torch.zeros(2, 5, dtype=torch.bool)
    logits, pairs = model.span_logits(hidden, none, torch.ones(2, 5, dtype=torch.bool))
    assert logits.shape == (0, len(model.config.entity_types)) and pairs.batch.numel() == 0


def test_inference_projections_follow_every_weight_change():
    """Inference keeps contiguous copies of the weight blocks; an optimizer step or a loaded
    state must never leave them stale."""
    torch.manual_seed(0)
    head = GatedPairFeedForward(8, 16, 3, dropout=0.0, activation="gelu")
    x = torch.randn(4, 8)

    def expected():
        weight = head.gate_inner.weight.detach()
        return F.linear(x, weight[:, :8]), F.linear(x, weight[:, 8:])

    with torch.inference_mode():
        first = head.project(x)
    torch.testing.assert_close(first, expected())

    optimizer = torch.optim.SGD(head.parameters(), lr=1.0)
    head.score(*head.project(x)).sum().backward()  # training: through views of the weight
    assert head.gate_inner.weight.grad.abs().sum() > 0
    optimizer.step()
    with torch.no_grad():
        stepped = head.project(x)
        torch.testing.assert_close(stepped, expected())
        assert not torch.allclose(stepped[0], first[0])
        head.load_state_dict({k: torch.zeros_like(v) for k, v in head.state_dict().items()})
        assert head.project_left(x).abs().sum() == 0 and head.project_right(x).abs().sum() == 0


def test_head_dropout_is_inverted_dropout():
    """Kept features are scaled by 1 / (1 - p), dropped ones are 0, at rate p; the gradient
    flows through the kept ones only; nothing is dropped in eval mode."""
    from iter.modeling.heads import GatedFeedForward

    head = GatedFeedForward(4, 8, 1, dropout=0.3, activation="gelu")
    x = torch.ones(400, 500, requires_grad=True)
    torch.manual_seed(0)
    out = head._dropout(x)
    kept = out != 0
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.7))
    assert abs(1 - kept.float().mean().item() - 0.3) < 0.005
    out.sum().backward()
    assert torch.equal(x.grad != 0, kept)
    head.eval()
    assert head._dropout(x) is x
