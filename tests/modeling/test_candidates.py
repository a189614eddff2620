"""Candidate starts and pairs against their definitions, written out position by position."""

from __future__ import annotations

import pytest
import torch

from iter.modeling.candidates import candidate_pairs, closest_starts


@pytest.mark.parametrize("k", [1, 2, 3])
def test_closest_starts_are_the_k_nearest_at_or_before(k):
    torch.manual_seed(k)
    starts = torch.rand(4, 17) > 0.6
    starts[0] = False
    starts[1, 0] = True
    positions, valid = closest_starts(starts, k)
    for b in range(4):
        for j in range(17):
            expected = [s for s in range(j, -1, -1) if starts[b, s]][:k]
            found = [positions[b, j, m].item() for m in range(k) if valid[b, j, m]]
            assert found == expected
            assert all(positions[b, j, m] == 0 for m in range(k) if not valid[b, j, m])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_candidate_pairs_are_allowed_ends_with_their_closest_starts(k):
    torch.manual_seed(k)
    starts = torch.rand(3, 12) > 0.5
    starts[1] = False  # a sentence without any start has no pairs
    end_mask = torch.rand(3, 12) > 0.3
    expected = [
        (b, s, j)
        for b in range(3)
        for j in range(12)
        if end_mask[b, j]
        for s in [s for s in range(j, -1, -1) if starts[b, s]][:k]
    ]
    pairs = candidate_pairs(starts, end_mask, k)
    found = list(zip(pairs.batch.tolist(), pairs.start.tolist(), pairs.end.tolist(), strict=True))
    assert found == expected
    assert len(found) > 0
    start_rows, end_rows = starts.nonzero().tolist(), pairs.ends.nonzero().tolist()
    # With one pair per end (k = 1) the ends' rows are the pairs' own order.
    end_row = list(range(len(found))) if pairs.end_row is None else pairs.end_row.tolist()
    assert (pairs.end_row is None) == (k == 1)
    for row, (b, s, j) in enumerate(found):
        assert start_rows[pairs.start_row[row]] == [b, s]
        assert end_rows[end_row[row]] == [b, j]
