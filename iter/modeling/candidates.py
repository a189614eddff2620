"""Pairing every possible span end with its closest span starts (step 2 of ITER)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def closest_start(starts: torch.Tensor) -> torch.Tensor:
    """[B, L] long: the closest start at or before each position, -1 where there is none.

    A running maximum over the start positions: a handful of operations for any length.
    """
    positions = torch.arange(starts.size(-1), device=starts.device)
    return torch.where(starts, positions, -1).cummax(dim=-1).values


def closest_starts(starts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each position j, the ``k`` closest start positions at or before j.

    starts: [B, L] bool, the (gold or predicted) span starts.
    Returns (positions [B, L, k] long, valid [B, L, k] bool); slot 0 is the closest start,
    slot m the (m+1)-th closest. Invalid slots hold position 0. Flat models (k = 1) are
    paired through :func:`closest_start` instead, a running maximum without the sort.
    """
    batch, length = starts.shape
    positions = torch.arange(length, device=starts.device)
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
    start_row, end_row: [P], each pair's row among ``hidden[starts]`` / ``hidden[ends]``;
    end_row is None when every end has exactly one pair (k = 1): the rows are then in order.
    """

    batch: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    ends: torch.Tensor
    start_row: torch.Tensor
    end_row: torch.Tensor | None

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
    # Rows of hidden[mask] are taken in row-major order, so a position's row is the number
    # of masked positions before it.
    start_rank = starts.reshape(-1).cumsum(0) - 1
    if k == 1:
        # One pair per end, with the closest start; the pairs are the allowed ends after a
        # start, in row-major order, which is also the order of their rows. A start's row is
        # the count of starts up to the end (a flat count, but it cannot reach into the
        # previous sentence: the pair exists only with a start in this one).
        closest = closest_start(starts)
        ends = end_mask & (closest >= 0)
        flat_end = ends.reshape(-1).nonzero().squeeze(-1)
        batch = torch.div(flat_end, length, rounding_mode="floor")
        return SpanCandidates(
            batch=batch,
            start=closest.reshape(-1).index_select(0, flat_end),
            end=flat_end - batch * length,
            ends=ends,
            start_row=start_rank.index_select(0, flat_end),
            end_row=None,
        )
    candidates, valid = closest_starts(starts, k)
    valid &= end_mask.unsqueeze(-1)
    batch, end, slot = valid.nonzero(as_tuple=True)
    start = candidates[batch, end, slot]
    ends = valid.any(dim=-1)
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
