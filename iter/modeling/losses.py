"""The three steps' losses from their logits and targets (METHOD.md, steps 1-3).

Each function returns the summed loss and the number of scored elements, so that the
model can reduce them as configured: the authors' sum (the default), the sum divided by the
batch size (their feature bit 8), or this project's earlier per-element mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def binary_loss(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed binary cross-entropy: the start step (a logit against a fixed 0) and links."""
    total = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="sum")
    return total, logits.numel()


def _logsumexp_where(logits: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """log-sum-exp over the last dimension of the entries where ``keep`` holds (-inf if none)."""
    return logits.masked_fill(~keep, float("-inf")).logsumexp(dim=-1)


def flat_span_loss(
    logits: torch.Tensor, gold_types: torch.Tensor, ends_gold_span: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Flat data: one softmax per end over "no span ends here" (a fixed logit 0) and the types.

    logits [P, E] pair each candidate end with its closest start; gold_types [P, E] marks the
    gold types of the span the pair forms; ends_gold_span [P] whether a gold span ends at the
    pair's end at all. The loss of a pair is ``lse(0, logits) - lse(gold choices)``, where
    the gold choice is "none" when no gold span ends there. A gold span that ends at a
    position whose closest start is not its own cannot be a target (its start is hidden by
    another gold start, so the data is not flat there): such positions are left out.
    """
    logits = logits.float()
    with_none = torch.cat((logits.new_zeros(logits.size(0), 1), logits), dim=-1)
    is_gold = gold_types.any(dim=-1)
    gold_choices = torch.cat((~ends_gold_span.unsqueeze(-1), gold_types), dim=-1)
    keep = is_gold | ~ends_gold_span
    losses = with_none.logsumexp(dim=-1) - _logsumexp_where(with_none, gold_choices)
    return losses[keep].sum(), int(keep.sum())


def nested_span_loss(
    logits: torch.Tensor, gold_types: torch.Tensor, ends_gold_span: torch.Tensor
) -> tuple[torch.Tensor, int]:
    """Nested data: each (candidate start, end) pair has its own softmax.

    logits [P, E + 1]: the types and a NONE class last. The softmax of a pair runs over
    "no action" (a fixed logit 0), the types and NONE, as in the authors' code. The gold
    choice is the pair's gold type(s) when it forms a gold span; NONE when it does not but
    some gold span ends at its end; and "no action" or NONE when no gold span ends there.
    """
    logits = logits.float()
    with_none = torch.cat((logits.new_zeros(logits.size(0), 1), logits), dim=-1)
    is_gold = gold_types.any(dim=-1, keepdim=True)
    none_is_gold = ~is_gold
    no_action_is_gold = ~ends_gold_span.unsqueeze(-1)
    gold_choices = torch.cat((no_action_is_gold, gold_types, none_is_gold), dim=-1)
    losses = with_none.logsumexp(dim=-1) - _logsumexp_where(with_none, gold_choices)
    return losses.sum(), losses.numel()


def sigmoid_span_loss(logits: torch.Tensor, gold_types: torch.Tensor) -> tuple[torch.Tensor, int]:
    """This project's earlier span step: an independent sigmoid per (pair, type)."""
    return binary_loss(logits, gold_types)


def reduce_loss(total: torch.Tensor, count: int, batch_size: int, how: str) -> torch.Tensor:
    """``sum`` as is, ``batch``: divided by the batch size, ``mean``: per scored element."""
    if how == "sum":
        return total
    if how == "batch":
        return total / batch_size
    return total / max(count, 1)
