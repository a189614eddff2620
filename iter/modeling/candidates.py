"""Pairing every possible span end with its closest span starts (step 2 of ITER)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def closest_starts(starts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each position j, the ``k`` closest start positions at or before j.

    starts: [B, L] bool, the (gold or predicted) span starts.
    Returns (positions [B, L, k] long, valid [B, L, k] bool); slot 0 is the closest start,
    slot m the (m+1)-th closest. Invalid slots hold position 0.
    """
    batch, length = starts.shape
    positions = torch.arange(length, device=starts.device)
    if k == 1:
        # Flat datasets: the closest start is a running maximum, a handful of operations.
        closest = torch.where(starts, positions, -1).cummax(dim=-1).values
        valid = closest >= 0
        return closest.clamp(min=0).unsqueeze(-1), valid.unsqueeze(-1)
    # Start positions sorted ascending per row; non-starts pushed to the end as `length`.
    sorted_starts = torch.where(starts, positions, length).sort(dim=-1).values  # [B, L]
    # count[b, j] = number of starts at positions <= j, so the closest is sorted_starts[count-1].
    count = starts.long().cumsum(dim=-1)  # [B, L]
    rank = count.unsqueeze(-1) - 1 - torch.arange(k, device=starts.device)  # [B, L, k]
    valid = rank >= 0
    gathered = sorted_starts.gather(1, rank.clamp(min=0).view(batch, -1)).view(batch, length, k)
    return torch.where(valid, gathered, 0), valid


@dataclass
class SpanCandidates:
    """The (start, end) pairs that step 2 scores, as flat lists over the batch.

    Every position where a span may end is paired with its ``k`` closest starts at or before
    it; positions that cannot end a span, or have no start before them, are left out, so the
    head only ever projects and scores pairs that can become spans.

    batch, start, end: [P] each, the pairs in (batch, end, closest start first) order.
    ends: [B, L] bool, the end positions that have at least one pair.
    start_row, end_row: [P], each pair's row among ``hidden[starts]`` / ``hidden[ends]``.
    """

    batch: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    ends: torch.Tensor
    start_row: torch.Tensor
    end_row: torch.Tensor

    def keys(self, length: int) -> torch.Tensor:
        """One integer per pair, ascending in the pairs' order (see :func:`pair_keys`)."""
        return pair_keys(self.batch, self.start, self.end, length)


def pair_keys(
    batch: torch.Tensor, start: torch.Tensor, end: torch.Tensor, length: int
) -> torch.Tensor:
    """Integer keys ordering pairs by batch, then end, then start *descending*.

    That is the order :func:`candidate_pairs` produces (slot 0 holds the closest, i.e. the
    largest, start), so candidate keys are sorted and gold spans can be found among them by
    binary search.
    """
    return (batch * length + end) * length + (length - 1 - start)


def candidate_pairs(starts: torch.Tensor, end_mask: torch.Tensor, k: int) -> SpanCandidates:
    """The pairs of ``starts`` [B, L] (bool) with the positions allowed by ``end_mask`` [B, L]."""
    length = starts.size(1)
    candidates, valid = closest_starts(starts, k)
    valid &= end_mask.unsqueeze(-1)
    batch, end, slot = valid.nonzero(as_tuple=True)
    start = candidates[batch, end, slot]
    ends = valid.any(dim=-1)
    # Rows of hidden[mask] are taken in row-major order, so a position's row is the number
    # of masked positions before it.
    start_rank = starts.reshape(-1).cumsum(0) - 1
    end_rank = ends.reshape(-1).cumsum(0) - 1
    flat_batch = batch * length
    return SpanCandidates(
        batch=batch,
        start=start,
        end=end,
        ends=ends,
        start_row=start_rank[flat_batch + start],
        end_row=end_rank[flat_batch + end],
    )
