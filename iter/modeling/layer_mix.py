"""Beyond the paper (an option, ``model.layer_mix``): the heads read a learned mix of all the
encoder's layers instead of its last one.

ITER reads the encoder's last layer. The default small encoder, all-MiniLM-L6-v2, was tuned
for sentence embeddings (its last layer is mean-pooled into one vector per sentence), and what
a token-level task needs may sit lower. A scalar mix (Peters et al. 2018, ELMo) lets training
choose: softmax-normalised weights over the embeddings and each layer's output, times a
learned scale. The weights start equal, the scale at 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import PretrainedConfig

LAYER_MIXES = ("last", "scalar")


def num_hidden_states(encoder_config: PretrainedConfig) -> int:
    """How many hidden states the encoder returns with ``output_hidden_states``: its
    embeddings and each layer's output."""
    for key in ("num_hidden_layers", "num_layers"):
        value = getattr(encoder_config, key, None)
        if value:
            return int(value) + 1
    raise ValueError(
        f"model.layer_mix: an encoder of type {encoder_config.model_type!r} states no "
        "number of layers"
    )


class ScalarMix(nn.Module):
    """``gamma * sum_i softmax(w)_i * states_i`` over ``count`` hidden states."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(count))
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(states) != self.weights.numel():
            raise ValueError(
                f"the layer mix was built for {self.weights.numel()} hidden states, "
                f"the encoder returned {len(states)}"
            )
        weights = torch.softmax(self.weights, dim=0)
        mixed = torch.stack(tuple(states), dim=0)
        weights = weights.to(mixed.dtype).view(-1, *([1] * (mixed.dim() - 1)))
        return self.gamma.to(mixed.dtype) * (weights * mixed).sum(dim=0)
