"""Pairing every possible span end with its closest span starts (step 2 of ITER)."""

from __future__ import annotations

import torch


def closest_starts(starts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each position j, the ``k`` closest start positions at or before j.

    starts: [B, L] bool, the (gold or predicted) span starts.
    Returns (positions [B, L, k] long, valid [B, L, k] bool); slot 0 is the closest start,
    slot m the (m+1)-th closest. Invalid slots hold position 0.
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
