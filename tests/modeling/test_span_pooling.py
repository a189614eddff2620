"""Max-pooling spans with a sparse table, against the maximum taken position by position."""

from __future__ import annotations

import torch

from iter.modeling.span_pooling import MAX_EMBEDDED_WIDTH, span_max_pool, span_widths


def test_span_max_pool_equals_the_maximum_over_each_span_and_its_gradient():
    torch.manual_seed(0)
    hidden = torch.randn(3, 13, 5, requires_grad=True)
    # Every span of every sentence: every width from 1 to the whole sentence, so every level
    # of the table is read.
    batch, start, end = torch.tensor(
        [(b, s, e) for b in range(3) for s in range(13) for e in range(s, 13)]
    ).unbind(-1)
    pooled = span_max_pool(hidden, batch, start, end)
    by_hand = torch.stack(
        [hidden[b, s : e + 1].max(dim=0).values for b, s, e in zip(batch, start, end, strict=True)]
    )
    assert torch.equal(pooled, by_hand)
    (grad,) = torch.autograd.grad(pooled.sum(), hidden)
    (grad_by_hand,) = torch.autograd.grad(by_hand.sum(), hidden)
    assert torch.equal(grad, grad_by_hand)


def test_single_positions_empty_lists_and_widths():
    hidden = torch.arange(24.0).view(1, 6, 4)
    positions = torch.tensor([0, 5])
    batch = torch.zeros(2, dtype=torch.long)
    assert torch.equal(span_max_pool(hidden, batch, positions, positions), hidden[0, [0, 5]])
    empty = torch.zeros(0, dtype=torch.long)
    assert span_max_pool(hidden, empty, empty, empty).shape == (0, 4)
    widths = span_widths(torch.tensor([0, 3, 0]), torch.tensor([0, 5, 99]))
    assert widths.tolist() == [1, 3, MAX_EMBEDDED_WIDTH]
