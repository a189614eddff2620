"""Gated feed-forward heads: ``W_o(dropout(act(W_g x) * (W_i x)))``, no biases.

As in the authors' code, dropout acts after the gating only; ``input_dropout`` also drops
the head's input, as this project's earlier heads did (kept for the ablation).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN


def activation_function(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation called ``name`` in transformers' table, as a plain function where the
    table wraps one (``gelu`` is ``F.gelu``), which saves a module call per use."""
    module = ACT2FN[name]
    function = getattr(module, "act", None)
    return function if callable(function) and not isinstance(function, nn.Module) else module


class _GatedBlock(nn.Module):
    """What both heads share: the gated first layer's weight, the output layer, dropout and
    the activation, with the second half of the computation (:meth:`_output`).

    The dropout module holds the rate (so it can be changed like any other module's), but
    it, the activation and the layers are applied as functions: at inference a module call
    per use costs more than the handful of rows a sentence passes through.
    """

    def __init__(
        self,
        d_in: int,
        d_ff: int,
        d_out: int,
        dropout: float,
        activation: str,
        input_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.input_dropout = input_dropout
        # Gate and inner projections share one matrix so one matmul computes both.
        self.gate_inner = nn.Linear(d_in, 2 * d_ff, bias=False)
        self.out = nn.Linear(d_ff, d_out, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.act = activation_function(activation)

    def _dropout(self, x: torch.Tensor) -> torch.Tensor:
        """Inverted dropout with the module's rate.

        The same as ``F.dropout``, but the mask comes from ``rand`` rather than
        ``bernoulli_``, which on CPU took about a sixth of a training step: the pair heads
        drop out [pairs, 2 * d_ff] features (thousands of rows with dense link training).
        """
        rate = self.dropout.p
        if not self.training or rate == 0:
            return x
        if rate == 1:
            return x * 0
        keep = torch.rand(x.shape, device=x.device) >= rate
        return x * (keep * (1 / (1 - rate))).to(x.dtype)

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return self._dropout(x) if self.input_dropout else x

    def _output(self, gate_inner: torch.Tensor) -> torch.Tensor:
        """``W_o(act(gate) * inner)`` from the first layer's output [..., 2 * d_ff]."""
        gate, inner = gate_inner.chunk(2, dim=-1)
        return F.linear(self._dropout(self.act(gate) * inner), self.out.weight)


class GatedFeedForward(_GatedBlock):
    """Scores single token states (the span-start step)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._output(F.linear(self._input(x), self.gate_inner.weight))


class GatedPairFeedForward(_GatedBlock):
    """Scores pairs ``[left; right]`` of token states (span closing and linking).

    Mathematically this is a gated feed-forward block over the concatenation of two states.
    The first projection is linear, so ``W [a; b] = W_a a + W_b b``: each token is projected
    once (:meth:`project`) and pairs are formed by adding projections (:meth:`score`). Scoring
    every end position against its candidate starts then costs a gather and an add instead of
    a matmul per pair, which keeps ITER's overhead over the bare encoder small.
    """

    def __init__(
        self,
        d_in: int,
        d_ff: int,
        d_out: int,
        dropout: float,
        activation: str,
        input_dropout: bool = False,
        d_context: int = 0,
    ) -> None:
        # The first layer's columns are [left; right] (2 * d_in), its rows [gate; inner].
        super().__init__(2 * d_in, d_ff, d_out, dropout, activation, input_dropout)
        self.d_in = d_in
        self.d_ff = d_ff
        # With d_context, pairs have a third member (the link step's context between two
        # spans): the first layer then reads [left; right; context], the context's block
        # kept as its own matrix since it is projected per pair, not per token.
        self.context = nn.Linear(d_context, 2 * d_ff, bias=False) if d_context else None
        self._inference_key: tuple | None = None
        self._inference_weight: torch.Tensor | None = None

    def _stacked_blocks(self) -> torch.Tensor:
        """The first layer's left and right column blocks stacked as rows, [4 * d_ff, d_in].

        Only used at inference, where it is kept until the weight changes (its version
        counter moves on every optimizer step or load). Rows ``[:2 * d_ff]`` project left
        members and ``[2 * d_ff:]`` right ones, so each block is a contiguous slice and one
        matmul projects both: a matmul over a strided column view costs up to twice as much
        when it has few rows, and a sentence has only a handful of starts and spans.
        """
        weight = self.gate_inner.weight
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device)
        if self._inference_key != key:
            with torch.no_grad():
                self._inference_weight = torch.cat(
                    (weight[:, : self.d_in], weight[:, self.d_in :]), dim=0
                )
            self._inference_key = key
        return self._inference_weight

    def _block(self, side: int) -> torch.Tensor:
        """The left (0) or right (1) block of the first layer, [2 * d_ff, d_in]."""
        if torch.is_grad_enabled():
            # Views of the one weight, so gradients reach it; a copy would cut them off.
            return self.gate_inner.weight[:, side * self.d_in : (side + 1) * self.d_in]
        rows = 2 * self.d_ff
        return self._stacked_blocks()[side * rows : (side + 1) * rows]

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project states [..., d_in] as left and as right members: two [..., 2 * d_ff]."""
        x = self._input(x)
        if torch.is_grad_enabled():
            # Two matmuls over views: concatenating the blocks into one weight would copy the
            # whole matrix on every step, which cost more than the projection of a few spans.
            return F.linear(x, self._block(0)), F.linear(x, self._block(1))
        return F.linear(x, self._stacked_blocks()).chunk(2, dim=-1)

    def project_left(self, x: torch.Tensor) -> torch.Tensor:
        """Projection [..., 2 * d_ff] of states taken as left members only."""
        return F.linear(self._input(x), self._block(0))

    def project_right(self, x: torch.Tensor) -> torch.Tensor:
        """Projection [..., 2 * d_ff] of states taken as right members only."""
        return F.linear(self._input(x), self._block(1))

    def project_context(self, x: torch.Tensor) -> torch.Tensor:
        """Projection [..., 2 * d_ff] of pair contexts [..., d_context]; add it to a pair's
        left projection before :meth:`score`."""
        if self.context is None:
            raise ValueError("this head was built without a context input (d_context=0)")
        return F.linear(self._input(x), self.context.weight)

    def score(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Logits [..., d_out] for pairs whose projections broadcast together."""
        return self._output(left + right)
