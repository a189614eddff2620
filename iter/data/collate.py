"""Encoded segments → padded tensors, and the order in which batches are drawn."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """Tensors for the model plus what is needed to map predictions back to words."""

    input_ids: torch.Tensor  # [B, L]
    attention_mask: torch.Tensor  # [B, L]
    start_mask: torch.Tensor  # [B, L] bool: first sub-word of a scored word
    end_mask: torch.Tensor  # [B, L] bool: last sub-word of a scored word
    gold_spans: torch.Tensor  # [B, S, 3] (start position, end position inclusive, type id)
    gold_span_mask: torch.Tensor  # [B, S]
    gold_links: torch.Tensor  # [B, Q, 3] (head span, tail span, relation type id)
    gold_link_mask: torch.Tensor  # [B, Q]
    segment_index: list[int]  # rows of the encoded dataset
    doc_index: list[int]
    word_offset: list[int]
    start_positions: list[list[int]]
    end_positions: list[list[int]]

    def model_inputs(self, device: torch.device | str) -> dict[str, torch.Tensor]:
        names = (
            "input_ids", "attention_mask", "start_mask", "end_mask",
            "gold_spans", "gold_span_mask", "gold_links", "gold_link_mask",
        )
        return {name: getattr(self, name).to(device, non_blocking=True) for name in names}

    def __len__(self) -> int:
        return self.input_ids.size(0)


def _pad(rows: Sequence[Sequence], width: int, fill: int, tuple_size: int = 0) -> torch.Tensor:
    shape = (len(rows), width, tuple_size) if tuple_size else (len(rows), width)
    out = torch.full(shape, fill, dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def collate(rows: Sequence[dict], segment_index: Sequence[int], pad_token_id: int) -> Batch:
    length = max(len(r["input_ids"]) for r in rows)
    input_ids = _pad([r["input_ids"] for r in rows], length, pad_token_id)
    attention_mask = _pad([[1] * len(r["input_ids"]) for r in rows], length, 0)
    start_mask = torch.zeros(len(rows), length, dtype=torch.bool)
    end_mask = torch.zeros(len(rows), length, dtype=torch.bool)
    for i, r in enumerate(rows):
        start_mask[i, r["start_positions"]] = True
        end_mask[i, r["end_positions"]] = True
    spans = [
        list(zip(r["span_starts"], r["span_ends"], r["span_types"], strict=True)) for r in rows
    ]
    links = [
        list(zip(r["link_heads"], r["link_tails"], r["link_types"], strict=True)) for r in rows
    ]
    width_spans = max((len(s) for s in spans), default=0)
    width_links = max((len(q) for q in links), default=0)
    return Batch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        start_mask=start_mask,
        end_mask=end_mask,
        gold_spans=_pad(spans, width_spans, 0, 3),
        gold_span_mask=_pad([[1] * len(s) for s in spans], width_spans, 0).bool(),
        gold_links=_pad(links, width_links, 0, 3),
        gold_link_mask=_pad([[1] * len(q) for q in links], width_links, 0).bool(),
        segment_index=list(segment_index),
        doc_index=[r["doc_index"] for r in rows],
        word_offset=[r["word_offset"] for r in rows],
        start_positions=[r["start_positions"] for r in rows],
        end_positions=[r["end_positions"] for r in rows],
    )


# With grouping by length, segments are sorted within pools of this many batches. On CoNLL04
# (batch 8) random batches pad to 1.85x the real tokens, pools of 16 batches to 1.10x and
# pools of 50 to 1.05x; 16 keeps each batch's sentences drawn from a tenth of the corpus.
LENGTH_POOL_BATCHES = 16


def batch_order(
    lengths: Sequence[int],
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator | None = None,
    group_by_length: bool = False,
) -> list[list[int]]:
    """Index lists, one per batch.

    For evaluation, segments are sorted by length so batches waste little padding. For
    training, segments are shuffled; batches stay random in length, as the paper trains,
    unless ``group_by_length``: then the shuffled segments are sorted by length within pools
    of :data:`LENGTH_POOL_BATCHES` batches, and the batches of all pools are shuffled, so a
    batch holds sentences of similar length but the epoch's order is still random.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if not shuffle:
        return _chunks(sorted(range(len(lengths)), key=lambda i: lengths[i]), batch_size)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if not group_by_length:
        return _chunks(order, batch_size)
    pool = LENGTH_POOL_BATCHES * batch_size
    batches = []
    for first in range(0, len(order), pool):
        members = sorted(order[first : first + pool], key=lambda i: lengths[i])
        batches += _chunks(members, batch_size)
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def _chunks(indices: list[int], size: int) -> list[list[int]]:
    return [indices[i : i + size] for i in range(0, len(indices), size)]


def iterate_batches(
    segments: Sequence[dict],
    batch_size: int,
    pad_token_id: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    order: list[list[int]] | None = None,
) -> Iterator[Batch]:
    """Batches over encoded segments (``order`` replays a given batch order)."""
    if order is None:
        lengths = [len(row["input_ids"]) for row in segments]
        order = batch_order(lengths, batch_size, shuffle, generator)
    for indices in order:
        yield collate([segments[i] for i in indices], indices, pad_token_id)
