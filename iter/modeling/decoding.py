"""Turning the heads' logits into spans and links, batched on tensors.

A span is emitted where the span step's objective says a span is likelier than none:
flat data (a softmax over "no span" at logit 0 and the types) when the log-sum-exp of the
type logits is > 0; nested data (a NONE class per pair) when a type beats NONE; the
sigmoid objective when the best type logit is > 0. The type is the best one. A link fires
for every relation type whose probability exceeds the threshold. Symmetric relation types are
emitted once per unordered pair, with the larger probability of the two directions, and a span
is not linked to itself, unless the model decodes as the authors' code does
(``ITERConfig.decoding == "authors"``: self-links kept, no symmetric types).
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


SPAN_DECISIONS = ("flat", "nested", "sigmoid")


def span_decisions(
    span_logits: torch.Tensor, decision: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(emit [P] bool, type [P], score [P]) for logits [P, E] (nested: [P, E + 1], NONE last).

    The score is the probability the step gives the emitted choice: under the flat softmax
    ``exp(l_type) / (1 + sum exp(l))``, under the nested one the type's share against the
    types and NONE, under the sigmoid objective ``sigmoid(l_type)``.
    """
    logits = span_logits.float()
    if decision == "nested":
        types = logits[:, :-1]
        best, best_type = types.max(dim=-1)
        return best > logits[:, -1], best_type, (best - logits.logsumexp(dim=-1)).exp()
    best, best_type = logits.max(dim=-1)
    if decision == "sigmoid":
        return best > 0, best_type, torch.sigmoid(best)
    total = logits.logsumexp(dim=-1)
    # log(1 + sum exp(l)) = softplus(lse(l)): the normaliser with the fixed "no span" logit.
    return total > 0, best_type, (best - torch.nn.functional.softplus(total)).exp()


def non_overlapping(rows: Sequence[Sequence[int]], scores: Sequence[float]) -> list[int]:
    """Indices of the spans kept when no two may overlap: best score first, each kept
    unless it shares a position with a span already kept in its sentence; in input order.

    ``rows`` are (sentence, start, end inclusive, ...) as :func:`decode_spans` tables them.
    """
    kept: dict[int, list[tuple[int, int]]] = {}
    chosen = []
    for i in sorted(range(len(rows)), key=lambda i: -scores[i]):
        sentence, start, end = rows[i][0], rows[i][1], rows[i][2]
        taken = kept.setdefault(sentence, [])
        if all(end < other_start or other_end < start for other_start, other_end in taken):
            taken.append((start, end))
            chosen.append(i)
    return sorted(chosen)


def decode_spans(
    span_logits: torch.Tensor,
    pairs: SpanCandidates,
    batch: int,
    decision: str = "flat",
    drop_overlaps: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, list[SentenceDecoding]]:
    """Emitted spans from logits [P, E] over the candidate ``pairs`` of a batch.

    ``decision`` is one of :data:`SPAN_DECISIONS` (see :func:`span_decisions`);
    ``drop_overlaps`` keeps only spans that overlap no better-scored one (flat data:
    :func:`non_overlapping`). Returns the spans padded per sentence as positions [B, S, 3]
    (start, end, type), their mask [B, S], and the per-sentence lists.
    """
    emit_mask, best_type, score = span_decisions(span_logits, decision)
    emit = emit_mask.nonzero().squeeze(-1)
    # One table of the emitted spans, read back to Python in one transfer.
    table = torch.stack((pairs.batch, pairs.start, pairs.end, best_type), dim=-1)
    table = table.index_select(0, emit)
    rows, scores = table.tolist(), score.index_select(0, emit).tolist()
    if drop_overlaps and len(rows) > 1:
        keep = non_overlapping(rows, scores)
        if len(keep) < len(rows):
            table = table.index_select(0, torch.tensor(keep, device=table.device))
            rows, scores = [rows[i] for i in keep], [scores[i] for i in keep]

    sentences = [SentenceDecoding() for _ in range(batch)]
    slots = []
    for (b, start, end, type_id), score in zip(rows, scores, strict=True):
        slots.append(len(sentences[b].spans))
        sentences[b].spans.append((start, end, type_id, score))
    if batch == 1:
        # A single sentence's spans are already its padded row.
        return table[None, :, 1:], torch.ones_like(table[None, :, 0], dtype=torch.bool), sentences

    width = max(len(sentence.spans) for sentence in sentences)
    spans = table.new_zeros(batch, width, 3)
    mask = torch.zeros(batch, width, dtype=torch.bool, device=table.device)
    if slots:
        index = (table[:, 0], torch.tensor(slots, device=table.device))
        spans[index] = table[:, 1:]
        mask[index] = True
    return spans, mask, sentences


def decode_links(
    link_logits: torch.Tensor,
    span_mask: torch.Tensor,
    symmetric: torch.Tensor | None,
    threshold: float,
    sentences: list[SentenceDecoding],
    self_links: bool = False,
    allowed: torch.Tensor | None = None,
) -> None:
    """Adds the links that fire in logits [B, S, S, R] to ``sentences`` (in place).

    ``span_mask`` [B, S] marks the slots that hold spans, as :func:`decode_spans` returns it;
    a single sentence has no padding slots, so its mask is not consulted. ``symmetric`` [R]
    marks the symmetric relation types (None: there are none). ``self_links``: keep the links
    of a span to itself (the authors' decoding) rather than dropping them. ``allowed``
    [B, S, S, R]: where given, only these (head, tail, type) triples may fire.
    """
    probs = torch.sigmoid(link_logits.float())
    width = probs.size(1)
    fire = probs > threshold
    if symmetric is not None and bool(symmetric.any()):
        both = torch.maximum(probs, probs.transpose(1, 2))
        probs = torch.where(symmetric, both, probs)
        # A symmetric link is emitted once per unordered pair: from the earlier span.
        upper = torch.ones(width, width, dtype=torch.bool, device=probs.device).triu(1)
        fire = torch.where(symmetric, (both > threshold) & upper.unsqueeze(-1), fire)
    if allowed is not None:
        fire &= allowed
    if probs.size(0) > 1:
        # Rows and columns of padding slots are not spans (a single sentence has none).
        fire &= (span_mask[:, :, None] & span_mask[:, None, :]).unsqueeze(-1)
    fired = fire.reshape(-1).nonzero().squeeze(-1)
    chosen = probs.reshape(-1).index_select(0, fired).tolist()
    relations = probs.size(-1)
    for flat, p in zip(fired.tolist(), chosen, strict=True):
        # The flat index of [B, S, S, R] spells out batch, head, tail and relation.
        rest, r = divmod(flat, relations)
        rest, t = divmod(rest, width)
        bi, h = divmod(rest, width)
        if self_links or h != t:  # by default a span is not linked to itself
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
