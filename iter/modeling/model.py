"""The ITER model: an encoder and three parallel steps (starts, typed spans, typed links).

Shapes use B = batch, L = sub-word length, k = nesting depth, E = entity types,
S = spans per sentence, R = relation types, D = encoder width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import ModelOutput

from iter.modeling.candidates import SpanCandidates, candidate_pairs, pair_keys
from iter.modeling.configuration import ITERConfig
from iter.modeling.decoding import (
    GenerationOutput,
    SentenceDecoding,
    build_generation_output,
    decode_links,
    decode_spans,
)
from iter.modeling.encoder import (
    encoder_from_config,
    hidden_size_of,
    load_encoder,
    public_encoder_name,
    resolve_encoder_path,
)
from iter.modeling.heads import GatedFeedForward, GatedPairFeedForward
from iter.modeling.word_boundaries import word_boundary_masks

# Largest pair-feature buffer (elements) that inference scores at once: 256 MB in fp32.
PAIR_CHUNK_ELEMENTS = 1 << 26


@dataclass
class ITEROutput(ModelOutput):
    """Losses of a teacher-forced forward pass (and the start logits)."""

    loss: torch.Tensor | None = None
    start_loss: torch.Tensor | None = None
    span_loss: torch.Tensor | None = None
    link_loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None  # [N], at the positions of start_mask


def masked_rows(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``states[mask]`` for states [B, L, D] and a bool mask [B, L]: [N, D], row-major.

    Selecting flat row indices costs a third of boolean indexing on the handful of rows a
    sentence has, and decoding selects rows three times per batch (possible starts,
    predicted starts, candidate ends).
    """
    rows = mask.reshape(-1).nonzero().squeeze(-1)
    return states.reshape(-1, states.size(-1)).index_select(0, rows)


def _mean_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over all elements (0 if there are none)."""
    losses = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="sum")
    return losses / max(logits.numel(), 1)


def _masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the elements where ``mask`` holds (0 if none)."""
    losses = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    mask = mask.expand_as(losses).float()
    return (losses * mask).sum() / mask.sum().clamp(min=1.0)


class ITERPreTrainedModel(PreTrainedModel):
    config_class = ITERConfig
    base_model_prefix = "iter"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True


class ITERForRelationExtraction(ITERPreTrainedModel):
    """ITER over any transformer encoder: entities (nested or flat) and typed links."""

    def __init__(self, config: ITERConfig) -> None:
        super().__init__(config)
        self.encoder = encoder_from_config(config.build_encoder_config())
        d_model = hidden_size_of(self.encoder.config)
        head_args = {
            "d_ff": config.d_ff,
            "dropout": config.dropout,
            "activation": config.activation,
        }
        self.start_head = GatedFeedForward(d_model, d_out=1, **head_args)
        self.span_head = GatedPairFeedForward(d_model, d_out=len(config.entity_types), **head_args)
        self.link_head = (
            GatedPairFeedForward(d_model, d_out=len(config.relation_types), **head_args)
            if config.relation_types
            else None
        )
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._symmetric_masks: dict[tuple, torch.Tensor] = {}
        self.post_init()

    def symmetric_relation_mask(self, device: torch.device) -> torch.Tensor:
        """[R] bool: which relation types are symmetric.

        Built from the config rather than kept as a buffer: ``from_pretrained`` creates the
        model on the meta device, and a non-persistent buffer would be left as uninitialised
        memory, making random relation types symmetric. It is cached per config value and
        device, since decoding asks for it on every batch.
        """
        key = (tuple(self.config.relation_types), tuple(self.config.symmetric_relation_types))
        mask = self._symmetric_masks.get((key, device))
        if mask is None:
            mask = torch.tensor([name in key[1] for name in key[0]], dtype=torch.bool)
            self._symmetric_masks[(key, device)] = mask = mask.to(device)
        return mask

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_encoder(
        cls,
        encoder: str,
        entity_types: Sequence[str],
        relation_types: Sequence[str] = (),
        symmetric_relation_types: Sequence[str] = (),
        **config_kwargs,
    ) -> ITERForRelationExtraction:
        """A new ITER model on a pretrained encoder (local folder or hub name), heads random."""
        from transformers import AutoTokenizer

        pretrained = load_encoder(encoder)
        config = ITERConfig(
            encoder_config=pretrained.config.to_dict(),
            entity_types=entity_types,
            relation_types=relation_types,
            symmetric_relation_types=symmetric_relation_types,
            base_model_name=config_kwargs.pop("base_model_name", public_encoder_name(encoder)),
            **config_kwargs,
        )
        model = cls(config)
        model.encoder = pretrained
        model.tokenizer = AutoTokenizer.from_pretrained(resolve_encoder_path(encoder))
        return model

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *args, **kwargs):
        """Load a saved model and, when the folder has one, its tokenizer (``model.tokenizer``)."""
        from transformers import AutoTokenizer

        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        try:
            model.tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path)
        except (OSError, ValueError):
            model.tokenizer = None
        return model

    def save_pretrained(self, save_directory: str | Path, *args, **kwargs) -> None:
        super().save_pretrained(save_directory, *args, **kwargs)
        if self._tokenizer is not None:
            self._tokenizer.save_pretrained(save_directory)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase | None:
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer: PreTrainedTokenizerBase | None) -> None:
        self._tokenizer = tokenizer

    # ----------------------------------------------------------------- the steps
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def start_logits(self, hidden: torch.Tensor, start_mask: torch.Tensor) -> torch.Tensor:
        """Step 1: logits [N] for the N positions where a span may start (``start_mask``).

        Continuation sub-words, special tokens and padding can never start a span, so the
        head skips them (about a quarter of the positions on CoNLL04 with MiniLM).
        """
        return self.start_head(masked_rows(hidden, start_mask)).squeeze(-1)

    def span_logits(
        self, hidden: torch.Tensor, starts: torch.Tensor, end_mask: torch.Tensor
    ) -> tuple[torch.Tensor, SpanCandidates]:
        """Step 2: logits [P, E] for each allowed end paired with its k closest ``starts``.

        Only the P candidate pairs are scored (positions that cannot end a span, or have no
        start before them, are skipped), and each start or end state is projected once: the
        pair head's first layer is linear, so a pair's projection is the sum of its members'.
        """
        pairs = candidate_pairs(starts, end_mask, self.config.nesting_depth)
        start_proj = self.span_head.project_left(masked_rows(hidden, starts))  # [starts, 2F]
        end_proj = self.span_head.project_right(masked_rows(hidden, pairs.ends))  # [ends, 2F]
        if pairs.end_row is not None:
            end_proj = end_proj.index_select(0, pairs.end_row)
        logits = self.span_head.score(start_proj.index_select(0, pairs.start_row), end_proj)
        return logits, pairs

    def span_states(self, hidden: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        """Representations [B, S, D] of spans given as positions [B, S, 2] (start, end)."""
        index = spans.clamp(min=0)
        d_model = hidden.size(-1)
        end = hidden.gather(1, index[..., 1:2].expand(-1, -1, d_model))
        if self.config.span_representation == "end":
            return end
        return end + hidden.gather(1, index[..., 0:1].expand(-1, -1, d_model))

    def link_logits(self, hidden: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        """Step 3: logits [B, S, S, R] for every ordered pair (head, tail) of spans."""
        assert self.link_head is not None
        head_proj, tail_proj = self.link_head.project(self.span_states(hidden, spans))
        batch, width, features = head_proj.shape
        if torch.is_grad_enabled() or batch * width * width * features <= PAIR_CHUNK_ELEMENTS:
            return self.link_head.score(head_proj.unsqueeze(2), tail_proj.unsqueeze(1))
        # Scoring pairs materialises [B, S, S, 2F] features. An untrained model or a long
        # window can emit hundreds of spans, so at inference heads are scored in chunks that
        # keep that buffer bounded (training only ever links the few gold spans).
        rows = max(1, PAIR_CHUNK_ELEMENTS // (batch * width * features))
        return torch.cat(
            [
                self.link_head.score(
                    head_proj[:, i : i + rows].unsqueeze(2), tail_proj.unsqueeze(1)
                )
                for i in range(0, width, rows)
            ],
            dim=1,
        )

    # ----------------------------------------------------------------- training
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        start_mask: torch.Tensor,
        end_mask: torch.Tensor,
        gold_spans: torch.Tensor,
        gold_span_mask: torch.Tensor,
        gold_links: torch.Tensor | None = None,
        gold_link_mask: torch.Tensor | None = None,
        **unused,
    ) -> ITEROutput:
        """Teacher-forced losses of all three steps, computed in parallel.

        start_mask / end_mask [B, L]: positions where a span may start / end (first and last
        sub-words of scored words). gold_spans [B, S, 3]: (start position, end position
        inclusive, entity type id), valid where gold_span_mask [B, S]. gold_links [B, Q, 3]:
        (head span index, tail span index, relation type id), valid where gold_link_mask.
        """
        hidden = self.encode(input_ids, attention_mask)  # [B, L, D]
        batch, length = input_ids.shape
        span_start, span_end, span_type = gold_spans.unbind(-1)  # [B, S] each

        # Step 1: starts, scored where a span may start.
        batch_index = torch.arange(batch, device=input_ids.device)[:, None].expand_as(span_start)
        gold_starts = torch.zeros_like(start_mask)
        gold_starts[batch_index[gold_span_mask], span_start[gold_span_mask]] = True
        gold_starts &= start_mask
        start_logits = self.start_logits(hidden, start_mask)  # [N]
        start_loss = _mean_bce(start_logits, gold_starts[start_mask])

        # Step 2: typed spans, paired with the gold starts (teacher forcing). A pair's target
        # is the set of gold types of the span it forms; gold spans are found among the
        # candidates by binary search on their sorted keys.
        logits, pairs = self.span_logits(hidden, gold_starts, end_mask)
        span_targets = torch.zeros_like(logits, dtype=torch.float)
        if logits.size(0) > 0:
            candidate_keys = pairs.keys(length)
            gold_keys = pair_keys(batch_index, span_start, span_end, length)[gold_span_mask]
            found_at = torch.searchsorted(candidate_keys, gold_keys).clamp(max=logits.size(0) - 1)
            found = candidate_keys[found_at] == gold_keys
            span_targets[found_at[found], span_type[gold_span_mask][found]] = 1.0
        span_loss = _mean_bce(logits, span_targets)

        # Step 3: links between gold spans.
        link_loss = torch.zeros((), device=input_ids.device)
        if self.link_head is not None and gold_span_mask.size(1) > 0:
            spans = gold_spans[..., :2]
            link_logits = self.link_logits(hidden, spans)  # [B, S, S, R]
            link_targets = torch.zeros_like(link_logits, dtype=torch.float)
            if gold_links is not None and gold_links.size(1) > 0:
                b_index = torch.arange(batch, device=input_ids.device)[:, None].expand_as(
                    gold_links[..., 0]
                )
                head, tail, rel = gold_links.clamp(min=0).unbind(-1)
                keep = gold_link_mask
                link_targets[b_index[keep], head[keep], tail[keep], rel[keep]] = 1.0
                # A symmetric relation holds in both directions.
                symmetric = self.symmetric_relation_mask(rel.device)[rel] & keep
                link_targets[
                    b_index[symmetric], tail[symmetric], head[symmetric], rel[symmetric]
                ] = 1.0
            pair_valid = gold_span_mask[:, :, None] & gold_span_mask[:, None, :]
            pair_valid &= ~torch.eye(pair_valid.size(1), dtype=torch.bool, device=pair_valid.device)
            link_loss = _masked_bce(link_logits, link_targets, pair_valid.unsqueeze(-1))

        loss = start_loss + span_loss + link_loss
        return ITEROutput(
            loss=loss,
            start_loss=start_loss.detach(),
            span_loss=span_loss.detach(),
            link_loss=link_loss.detach(),
            start_logits=start_logits,
        )

    # ----------------------------------------------------------------- inference
    @torch.inference_mode()
    def decode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        start_mask: torch.Tensor,
        end_mask: torch.Tensor,
    ) -> list[SentenceDecoding]:
        """Predicted spans and links per sentence, at sub-word positions."""
        hidden = self.encode(input_ids, attention_mask)
        start_logits = self.start_logits(hidden, start_mask)
        starts = torch.zeros_like(start_mask).masked_scatter_(start_mask, start_logits > 0)
        span_logits, pairs = self.span_logits(hidden, starts, end_mask)
        spans, span_mask, sentences = decode_spans(span_logits, pairs, input_ids.size(0))
        # A link needs two spans in one sentence.
        if self.link_head is not None and spans.size(1) > 1:
            link_logits = self.link_logits(hidden, spans[..., :2])
            symmetric = (
                self.symmetric_relation_mask(link_logits.device)
                if self.config.symmetric_relation_types
                else None
            )
            decode_links(link_logits, span_mask, symmetric, self.config.link_threshold, sentences)
        return sentences

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        start_mask: torch.Tensor | None = None,
        end_mask: torch.Tensor | None = None,
        **unused,
    ) -> GenerationOutput:
        """Entities and links for tokenized input, as the model card shows.

        Without ``start_mask``/``end_mask`` the word boundaries are read off the tokens
        (WordPiece ``##``, SentencePiece ``▁`` and byte-level ``Ġ`` conventions), so spans
        never start or end inside a word.
        """
        if self._tokenizer is None:
            raise ValueError(
                "generate() needs model.tokenizer; load the model with from_pretrained"
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if start_mask is None or end_mask is None:
            start_mask, end_mask = word_boundary_masks(self._tokenizer, input_ids, attention_mask)
        was_training = self.training
        self.eval()
        device = self.device
        sentences = self.decode(
            input_ids.to(device),
            attention_mask.to(device),
            start_mask.to(device),
            end_mask.to(device),
        )
        self.train(was_training)
        return build_generation_output(
            sentences,
            input_ids,
            self._tokenizer,
            self.config.entity_types,
            self.config.relation_types,
        )

    def predict(
        self,
        texts: str | Sequence[str] | Sequence[Sequence[str]],
        batch_size: int = 32,
    ) -> list:
        """Entities (type, character offsets, text, score) and relations (head, tail, type,
        probability) for plain strings or pre-tokenized word lists.

        Batches are sorted by length; long texts are split into windows that fit the encoder.
        Returns one :class:`~iter.inference.text.TextPrediction` per text.
        """
        from iter.inference.text import predict_texts

        if self._tokenizer is None:
            raise ValueError("predict() needs model.tokenizer; load the model with from_pretrained")
        if isinstance(texts, str):
            texts = [texts]
        return predict_texts(self, texts, batch_size=batch_size)


class ITER(ITERForRelationExtraction):
    """ITER for entities only (no relation types, no link step)."""

    def __init__(self, config: ITERConfig) -> None:
        if config.relation_types:
            raise ValueError("ITER predicts entities only; use ITERForRelationExtraction for links")
        super().__init__(config)


# Known to the Auto classes, so AutoConfig / AutoModel / AutoTokenizer read ITER folders.
AutoConfig.register(ITERConfig.model_type, ITERConfig, exist_ok=True)
AutoModel.register(ITERConfig, ITERForRelationExtraction, exist_ok=True)
