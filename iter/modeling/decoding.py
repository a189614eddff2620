"""Turning the heads' logits into spans and links, batched on tensors.

A span is emitted where its best entity-type logit is positive (type = argmax); a link fires
for every relation type whose probability exceeds the threshold. Symmetric relation types are
emitted once per unordered pair, with the larger probability of the two directions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from iter.modeling.candidates import SpanCandidates


@dataclass
class SentenceDecoding:
    """Raw predictions for one sequence at sub-word positions.

    spans: (start position, end position inclusive, entity type id, score)
    links: (head span index, tail span index, relation type id, probability)
    """

    spans: list[tuple[int, int, int, float]] = field(default_factory=list)
    links: list[tuple[int, int, int, float]] = field(default_factory=list)


def decode_spans(
    span_logits: torch.Tensor, pairs: SpanCandidates, batch: int
) -> tuple[torch.Tensor, torch.Tensor, list[SentenceDecoding]]:
    """Emitted spans from logits [P, E] over the candidate ``pairs`` of a batch.

    Returns the spans padded per sentence as positions [B, S, 3] (start, end, type),
    their mask [B, S], and the per-sentence lists.
    """
    best, best_type = span_logits.max(dim=-1)  # [P]
    emit = best > 0
    b = pairs.batch[emit]
    start = pairs.start[emit]
    end = pairs.end[emit]
    types = best_type[emit]
    scores = torch.sigmoid(best[emit].float())

    counts = torch.bincount(b, minlength=batch)
    width = int(counts.max()) if b.numel() else 0
    slot = torch.arange(b.numel(), device=b.device) - (counts.cumsum(0) - counts)[b]
    spans = torch.zeros(batch, width, 3, dtype=torch.long, device=b.device)
    spans[b, slot] = torch.stack((start, end, types), dim=-1)
    mask = torch.zeros(batch, width, dtype=torch.bool, device=b.device)
    mask[b, slot] = True

    sentences = [SentenceDecoding() for _ in range(batch)]
    for bi, s, e, t, p in zip(
        b.tolist(), start.tolist(), end.tolist(), types.tolist(), scores.tolist(), strict=True
    ):
        sentences[bi].spans.append((s, e, t, p))
    return spans, mask, sentences


def decode_links(
    link_logits: torch.Tensor,
    span_mask: torch.Tensor,
    symmetric: torch.Tensor,
    threshold: float,
    sentences: list[SentenceDecoding],
) -> None:
    """Adds the links that fire in logits [B, S, S, R] to ``sentences`` (in place)."""
    probs = torch.sigmoid(link_logits.float())
    width = probs.size(1)
    pair_valid = span_mask[:, :, None] & span_mask[:, None, :]
    pair_valid &= ~torch.eye(width, dtype=torch.bool, device=probs.device)
    fire = (probs > threshold) & pair_valid.unsqueeze(-1)
    if bool(symmetric.any()):
        both = torch.maximum(probs, probs.transpose(1, 2))
        probs = torch.where(symmetric, both, probs)
        upper = torch.ones(width, width, dtype=torch.bool, device=probs.device).triu(1)
        fire_sym = (both > threshold) & (pair_valid & upper).unsqueeze(-1)
        fire = torch.where(symmetric, fire_sym, fire)
    b, head, tail, rel = fire.nonzero(as_tuple=True)
    chosen = probs[b, head, tail, rel]
    for bi, h, t, r, p in zip(
        b.tolist(), head.tolist(), tail.tolist(), rel.tolist(), chosen.tolist(), strict=True
    ):
        sentences[bi].links.append((h, t, r, p))


@dataclass(frozen=True)
class PredictedEntity:
    """A predicted span over token positions ``[start, end)`` of the input ids."""

    start: int
    end: int
    type: str
    score: float
    tokens: tuple[str, ...]
    text: str

    def __repr__(self) -> str:
        return f"Entity({self.type}: {self.text!r} [{self.start}:{self.end}] {self.score:.2f})"


@dataclass(frozen=True)
class PredictedLink:
    head: PredictedEntity
    tail: PredictedEntity
    type: str
    probability: float

    def __repr__(self) -> str:
        return f"Link({self.head.text!r} -{self.type}-> {self.tail.text!r} {self.probability:.2f})"


@dataclass
class GenerationOutput:
    """What :meth:`generate` returns: per sentence, its entities and its links."""

    entities: list[list[PredictedEntity]]
    links: list[list[PredictedLink]]


def build_generation_output(
    sentences: Sequence[SentenceDecoding],
    input_ids: torch.Tensor,
    tokenizer: PreTrainedTokenizerBase,
    entity_types: Sequence[str],
    relation_types: Sequence[str],
) -> GenerationOutput:
    all_entities: list[list[PredictedEntity]] = []
    all_links: list[list[PredictedLink]] = []
    for row, sentence in zip(input_ids.tolist(), sentences, strict=True):
        entities = []
        for start, end, type_id, score in sentence.spans:
            ids = row[start : end + 1]
            entities.append(
                PredictedEntity(
                    start=start,
                    end=end + 1,
                    type=entity_types[type_id],
                    score=score,
                    tokens=tuple(tokenizer.convert_ids_to_tokens(ids)),
                    text=tokenizer.decode(ids).strip(),
                )
            )
        links = [
            PredictedLink(entities[h], entities[t], relation_types[r], p)
            for h, t, r, p in sentence.links
        ]
        order = sorted(range(len(entities)), key=lambda i: (entities[i].start, entities[i].end))
        all_entities.append([entities[i] for i in order])
        all_links.append(links)
    return GenerationOutput(all_entities, all_links)
