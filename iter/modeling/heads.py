"""Gated feed-forward heads: ``W_o(act(W_g x) * (W_i x))`` with dropout and no bias."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN


class GatedFeedForward(nn.Module):
    """Scores single token states (the span-start step)."""

    def __init__(self, d_in: int, d_ff: int, d_out: int, dropout: float, activation: str) -> None:
        super().__init__()
        # Gate and inner projections share one matrix so one matmul computes both.
        self.gate_inner = nn.Linear(d_in, 2 * d_ff, bias=False)
        self.out = nn.Linear(d_ff, d_out, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.act = ACT2FN[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, inner = self.gate_inner(self.dropout(x)).chunk(2, dim=-1)
        return self.out(self.dropout(self.act(gate) * inner))


class GatedPairFeedForward(nn.Module):
    """Scores pairs ``[left; right]`` of token states (span closing and linking).

    Mathematically this is a gated feed-forward block over the concatenation of two states.
    The first projection is linear, so ``W [a; b] = W_a a + W_b b``: each token is projected
    once (:meth:`project`) and pairs are formed by adding projections (:meth:`score`). Scoring
    every end position against its candidate starts then costs a gather and an add instead of
    a matmul per pair, which keeps ITER's overhead over the bare encoder small.
    """

    def __init__(self, d_in: int, d_ff: int, d_out: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.d_in = d_in
        self.d_ff = d_ff
        # Rows: [gate; inner] (2 * d_ff); columns: [left; right] (2 * d_in).
        self.gate_inner = nn.Linear(2 * d_in, 2 * d_ff, bias=False)
        self.out = nn.Linear(d_ff, d_out, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.act = ACT2FN[activation]

    def _blocks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first layer's left and right column blocks, [2 * d_ff, d_in] each.

        While gradients are recorded these are views of the one weight. At inference they
        are contiguous copies, kept until the weight changes (its version counter moves on
        every optimizer step or load): a matmul over a strided view costs up to twice as
        much when it has few rows, and a sentence has only a handful of starts and spans.
        """
        weight = self.gate_inner.weight
        if torch.is_grad_enabled():
            return weight[:, : self.d_in], weight[:, self.d_in :]
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device)
        if getattr(self, "_inference_blocks_key", None) != key:
            with torch.no_grad():
                self._inference_blocks = (
                    weight[:, : self.d_in].contiguous(),
                    weight[:, self.d_in :].contiguous(),
                )
            self._inference_blocks_key = key
        return self._inference_blocks

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project states [..., d_in] as left and as right members: two [..., 2 * d_ff]."""
        x = self.dropout(x)
        # One matmul per block; concatenating the blocks into one weight would copy the
        # whole matrix on every call, which cost more than the projection of a few spans.
        left_block, right_block = self._blocks()
        return F.linear(x, left_block), F.linear(x, right_block)

    def project_left(self, x: torch.Tensor) -> torch.Tensor:
        """Projection [..., 2 * d_ff] of states taken as left members only."""
        return F.linear(self.dropout(x), self._blocks()[0])

    def project_right(self, x: torch.Tensor) -> torch.Tensor:
        """Projection [..., 2 * d_ff] of states taken as right members only."""
        return F.linear(self.dropout(x), self._blocks()[1])

    def score(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Logits [..., d_out] for pairs whose projections broadcast together."""
        gate, inner = (left + right).chunk(2, dim=-1)
        return self.out(self.dropout(self.act(gate) * inner))
