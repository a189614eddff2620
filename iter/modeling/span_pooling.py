"""A span seen as a whole: the maximum of its states over every position, and its width.

Beyond the paper (``model.span_representation=max_pool_width``): ITER represents a flat span
by its end state; span-based peers such as SpERT max-pool the states of the whole span and add
a learned embedding of its width.
"""

from __future__ import annotations

import torch

# Widths (in sub-word tokens) with their own embedding; wider spans share the last one.
MAX_EMBEDDED_WIDTH = 32


def span_widths(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Embedding rows [N] for spans from ``start`` to ``end`` inclusive: 1 to the maximum."""
    return (end - start + 1).clamp(min=1, max=MAX_EMBEDDED_WIDTH)


def span_max_pool(
    hidden: torch.Tensor, batch: torch.Tensor, start: torch.Tensor, end: torch.Tensor
) -> torch.Tensor:
    """[N, D]: for each span (sentence ``batch``, positions ``start`` to ``end`` inclusive),
    the element-wise maximum of ``hidden`` [B, L, D] over its positions.

    A sparse table answers every span with two lookups: level j holds, at each position, the
    maximum over the 2^j positions from there, and a span of width w is covered by the two
    (overlapping) blocks of the largest 2^j <= w that start at its start and end at its end.
    Building it costs log2(L) maxima over [B, L, D]; gradients reach the maximal states.
    """
    if start.numel() == 0:
        return hidden.new_zeros(0, hidden.size(-1))
    length = hidden.size(1)
    width = (end - start + 1).clamp(min=1)
    levels = [hidden]
    level = torch.zeros_like(width)  # the largest j with 2^j <= width
    while (1 << len(levels)) <= int(width.max()):
        half = 1 << (len(levels) - 1)  # < length, since 2 * half <= width <= length
        previous = levels[-1]
        # The last ``half`` positions keep their own value: no span reads them at this level.
        shifted = torch.cat([previous[:, half:], previous[:, length - half :]], dim=1)
        levels.append(torch.maximum(previous, shifted))
        level += (width >= (1 << (len(levels) - 1))).long()
    table = torch.stack(levels)  # [J, B, L, D]
    second = end - (1 << level) + 1
    return torch.maximum(table[level, batch, start], table[level, batch, second])
