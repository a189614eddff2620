"""Batch orders: evaluation sorted by length, training shuffled, optionally grouped by length."""

from __future__ import annotations

import random

import pytest
import torch

from iter.data.collate import LENGTH_POOL_BATCHES, batch_order


def padded_tokens(order: list[list[int]], lengths: list[int]) -> int:
    return sum(max(lengths[i] for i in batch) * len(batch) for batch in order)


_RNG = random.Random(0)
LENGTHS = [_RNG.randint(5, 140) for _ in range(1000)]


def test_evaluation_order_is_sorted_by_length():
    order = batch_order([5, 1, 3, 2], batch_size=3, shuffle=False)
    assert order == [[1, 3, 2], [0]]


@pytest.mark.parametrize("group_by_length", [False, True])
def test_every_segment_is_in_exactly_one_batch(group_by_length):
    order = batch_order(LENGTHS, 8, True, torch.Generator().manual_seed(1), group_by_length)
    assert sorted(i for batch in order for i in batch) == list(range(len(LENGTHS)))
    assert all(len(batch) <= 8 for batch in order)
    again = batch_order(LENGTHS, 8, True, torch.Generator().manual_seed(1), group_by_length)
    assert again == order  # the epoch's seed fixes it, so a resumed epoch replays it


def test_grouping_by_length_cuts_padding_but_keeps_the_epoch_random():
    generator = torch.Generator().manual_seed(3)
    random_order = batch_order(LENGTHS, 8, True, generator)
    grouped = batch_order(LENGTHS, 8, True, torch.Generator().manual_seed(3), True)
    real = sum(LENGTHS)
    assert padded_tokens(random_order, LENGTHS) > 1.5 * real
    assert padded_tokens(grouped, LENGTHS) < 1.15 * real
    # Each batch is a run of one pool's sorted members ...
    for batch in grouped:
        assert [LENGTHS[i] for i in batch] == sorted(LENGTHS[i] for i in batch)
    # ... but batches are not in length order over the epoch, and pools are not taken in turn.
    maxima = [max(LENGTHS[i] for i in batch) for batch in grouped]
    assert maxima != sorted(maxima)
    # Consecutive batches come from different pools, not one pool's batches in turn.
    pool_of = {i: n // (LENGTH_POOL_BATCHES * 8) for n, i in enumerate(
        torch.randperm(len(LENGTHS), generator=torch.Generator().manual_seed(3)).tolist())}
    pools = [pool_of[batch[0]] for batch in grouped]
    assert len(set(pools[:LENGTH_POOL_BATCHES])) > 1
