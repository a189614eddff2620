"""The ITER model: an encoder and three parallel steps (starts, typed spans, typed links).

Shapes use B = batch, L = sub-word length, k = nesting depth, E = entity types,
S = spans per sentence, R = relation types, D = encoder width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import ModelOutput

from iter.errors import ConfigError
from iter.inference.text import TextPrediction, predict_texts
from iter.modeling.authors import load_authors_checkpoint, read_authors_config
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
from iter.modeling.layer_mix import ScalarMix, num_hidden_states
from iter.modeling.link_context import LINK_DISTANCE_BUCKETS, TailContext, distance_buckets
from iter.modeling.losses import (
    binary_loss,
    flat_span_loss,
    nested_span_loss,
    reduce_loss,
    sigmoid_span_loss,
)
from iter.modeling.span_pooling import MAX_EMBEDDED_WIDTH, span_max_pool, span_widths
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


@dataclass
class ITERLogits(ModelOutput):
    """What ``forward`` returns without gold labels: each step's logits on its own
    predictions (the inference path, as :meth:`ITERForRelationExtraction.decode` runs it).

    start_logits [B, L]: -inf where no span may start. span_logits [P, C] for the candidate
    pairs ``span_pairs`` [P, 3] (batch, start, end inclusive), C = entity types (and NONE on
    nested data). spans [B, S, 3] (start, end, type) emitted, valid where span_mask [B, S].
    link_logits [B, S, S, R] for (head, tail) pairs of emitted spans, -inf for invalid pairs;
    None without relation types or with fewer than two spans (one, with the authors'
    decoding, which scores a span with itself).
    """

    start_logits: torch.Tensor | None = None
    span_logits: torch.Tensor | None = None
    span_pairs: torch.Tensor | None = None
    spans: torch.Tensor | None = None
    span_mask: torch.Tensor | None = None
    link_logits: torch.Tensor | None = None


def masked_rows(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``states[mask]`` for states [B, L, D] and a bool mask [B, L]: [N, D], row-major.

    Selecting flat row indices costs a third of boolean indexing on the handful of rows a
    sentence has, and decoding selects rows three times per batch (possible starts,
    predicted starts, candidate ends).
    """
    rows = mask.reshape(-1).nonzero().squeeze(-1)
    return states.reshape(-1, states.size(-1)).index_select(0, rows)


def _find_keys(sorted_keys: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each of ``keys`` sits in ``sorted_keys`` (ascending), and whether it is there."""
    if sorted_keys.numel() == 0:
        return torch.zeros_like(keys), torch.zeros_like(keys, dtype=torch.bool)
    at = torch.searchsorted(sorted_keys, keys).clamp(max=sorted_keys.numel() - 1)
    return at, sorted_keys[at] == keys


class _GoldSpans:
    """The valid gold spans of a batch as flat rows, in (batch, slot) order."""

    def __init__(self, gold_spans: torch.Tensor, gold_span_mask: torch.Tensor, length: int):
        batch, slots = gold_span_mask.shape
        batch_index = torch.arange(batch, device=gold_spans.device)[:, None].expand(batch, slots)
        self.batch = batch_index[gold_span_mask]
        self.start, self.end, self.type = gold_spans[gold_span_mask].unbind(-1)
        self.count = int(self.batch.numel())
        # row[b, s]: the flat row of gold span s of sentence b (valid slots only).
        self.row = (gold_span_mask.reshape(-1).long().cumsum(0) - 1).view(batch, slots)
        self.length = length
        self.keys = pair_keys(self.batch, self.start, self.end, length)

    def link_keys(self, config: ITERConfig) -> torch.Tensor:
        """Keys matching :meth:`ITERForRelationExtraction._link_heads`' keys."""
        if config.span_representation == "end":
            return self.batch * self.length + self.end
        return self.keys


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
        if config.d_ff < 1:
            raise ConfigError(f"model.d_ff must be resolved to a width >= 1; got {config.d_ff}")
        head_args = {
            "dropout": config.dropout,
            "activation": config.activation,
            "input_dropout": config.head_input_dropout,
        }
        self.start_head = GatedFeedForward(d_model, config.d_ff, 1, **head_args)
        # Nested data under the softmax objective scores a NONE class after the types.
        span_classes = len(config.entity_types) + int(config.has_none_class)
        self.span_head = GatedPairFeedForward(d_model, config.pair_d_ff, span_classes, **head_args)
        # The link head reads [tail; head], as the authors' code does: the left member of
        # a pair is the tail span, the right member the head span. With inverse link types
        # its outputs are the types, then their inverses (trained only).
        self.link_head = (
            GatedPairFeedForward(
                d_model,
                config.pair_d_ff,
                len(config.relation_types) * (2 if config.inverse_link_types else 1),
                d_context=d_model if config.link_context != "none" else 0,
                **head_args,
            )
            if config.relation_types
            else None
        )
        # Beyond the paper (an option): the link step also sees each span's entity type (the
        # gold type in training, the predicted one at inference; a last row for positions
        # that end no span).
        self.link_type_embedding = (
            nn.Embedding(len(config.entity_types) + 1, d_model)
            if config.link_type_embedding and self.link_head is not None
            else None
        )
        # Beyond the paper (an option): a bias of the link head's first layer per bucket of the
        # signed distance from the tail span to the head's end.
        self.link_distance_bias = (
            nn.Embedding(LINK_DISTANCE_BUCKETS, 2 * config.pair_d_ff)
            if config.link_distance and self.link_head is not None
            else None
        )
        # Beyond the paper (an option): the heads read a learned mix of all encoder layers.
        self.layer_mix = (
            ScalarMix(num_hidden_states(self.encoder.config))
            if config.layer_mix == "scalar"
            else None
        )
        # Beyond the paper (an option): spans max-pooled over their states, plus their width.
        self.span_width_embedding = (
            nn.Embedding(MAX_EMBEDDED_WIDTH + 1, d_model)
            if config.span_representation == "max_pool_width" and self.link_head is not None
            else None
        )
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._symmetric_masks: dict[tuple, torch.Tensor] = {}
        self._signature_tables: dict[tuple, torch.Tensor] = {}
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

    def allowed_links(self, spans: torch.Tensor) -> torch.Tensor | None:
        """[B, S, S, R] bool: the relation types each (head, tail) pair of ``spans`` [B, S, 3]
        (start, end, type) may take under ``config.relation_signatures``; None without them.

        A symmetric type allows both orders of its listed triples. Like the symmetric mask,
        the [E, E, R] table is built from the config and cached per value and device.
        """
        signatures = self.config.relation_signatures
        if signatures is None:
            return None
        key = (tuple(map(tuple, signatures)), tuple(self.config.entity_types),
               tuple(self.config.relation_types), tuple(self.config.symmetric_relation_types),
               spans.device)  # fmt: skip
        table = self._signature_tables.get(key)
        if table is None:
            entity = {name: i for i, name in enumerate(self.config.entity_types)}
            relation = {name: i for i, name in enumerate(self.config.relation_types)}
            symmetric = set(self.config.symmetric_relation_types)
            table = torch.zeros(len(entity), len(entity), len(relation), dtype=torch.bool)
            for head, name, tail in signatures:
                table[entity[head], entity[tail], relation[name]] = True
                if name in symmetric:
                    table[entity[tail], entity[head], relation[name]] = True
            self._signature_tables[key] = table = table.to(spans.device)
        types = spans[..., 2]
        return table[types[:, :, None], types[:, None, :]]

    @property
    def span_decision(self) -> str:
        """How step 2's logits become spans (:func:`~iter.modeling.decoding.span_decisions`)."""
        if self.config.span_objective == "sigmoid":
            return "sigmoid"
        return "nested" if self.config.has_none_class else "flat"

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
        """Load a saved model and, when the folder has one, its tokenizer (``model.tokenizer``).

        A folder (or hub id) saved by the authors' code is converted on the fly
        (:mod:`iter.modeling.authors`) and decodes as their ``generate`` does.
        """
        from transformers import AutoTokenizer

        authors_config = read_authors_config(pretrained_model_name_or_path, kwargs)
        if authors_config is not None:
            return load_authors_checkpoint(
                cls, super().from_pretrained, pretrained_model_name_or_path, authors_config,
                issubclass(cls, ITER), *args, **kwargs,
            )  # fmt: skip
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        try:
            model.tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path)
        except (OSError, ValueError):
            model.tokenizer = None
        return model

    def save_pretrained(
        self, save_directory: str | Path, *args, push_to_hub: bool = False, **kwargs
    ) -> None:
        # transformers' push from here would write its generic card; ours pushes with our card.
        hub = {k: kwargs.pop(k) for k in ("repo_id", "commit_message", "private") if k in kwargs}
        super().save_pretrained(save_directory, *args, **kwargs)
        if self._tokenizer is not None:
            self._tokenizer.save_pretrained(save_directory)
        if push_to_hub:
            repo_id = hub.pop("repo_id", Path(save_directory).name)
            self.push_to_hub(repo_id, token=kwargs.get("token"), **hub)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str = "50GB",
        tags: list[str] | None = None,
        card: str | None = None,
    ) -> str:
        """Upload the model, its tokenizer and its model card to the hub repository
        ``repo_id`` (created if missing); returns the commit's URL.

        The card is ``card`` (a card's text) when given; else the README.md of the folder the
        model was loaded from (the card its training run wrote; pass ``card`` if the weights
        changed since); else a minimal card that claims no scores. transformers' own
        ``push_to_hub`` would upload a generic card instead.
        """
        import tempfile

        from iter.modeling.hub import CARD_FILE, minimal_card, push_checkpoint, with_tags

        source = Path(self.name_or_path or "").expanduser() / CARD_FILE
        if card is None and self.name_or_path and source.is_file():
            card = source.read_text(encoding="utf-8")
        if card is None:
            config = self.config
            card = minimal_card(
                repo_id,
                type(self).__name__,
                config.base_model_name,
                list(config.entity_types),
                list(config.relation_types),
            )
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder, max_shard_size=max_shard_size)
            (Path(folder) / CARD_FILE).write_text(with_tags(card, tags), encoding="utf-8")
            return push_checkpoint(
                folder,
                repo_id,
                private=private,
                token=token,
                commit_message=commit_message,
                revision=revision,
                create_pr=create_pr,
            )

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase | None:
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer: PreTrainedTokenizerBase | None) -> None:
        self._tokenizer = tokenizer

    # ----------------------------------------------------------------- the steps
    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The states [B, T, d] the heads read: the encoder's last layer, or with
        ``layer_mix`` a learned mix of all of them."""
        if self.layer_mix is None:
            return self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
        outputs = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        return self.layer_mix(outputs.hidden_states)

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
        """Representations [B, S, D] of spans given as positions [B, S, 2] (start, end), or
        [B, S, 3] (start, end, type): with ``link_type_embedding`` the type's embedding is
        added."""
        index = spans.clamp(min=0)
        batch, slots = index.shape[:2]
        rows = torch.arange(batch, device=index.device).repeat_interleave(slots)
        states = self.span_rows(
            hidden, rows, index[..., 0].reshape(-1), index[..., 1].reshape(-1)
        ).view(batch, slots, hidden.size(-1))
        if self.link_type_embedding is not None and spans.size(-1) > 2:
            states = states + self.link_type_embedding(index[..., 2])
        return states

    def span_rows(
        self, hidden: torch.Tensor, batch: torch.Tensor, start: torch.Tensor, end: torch.Tensor
    ) -> torch.Tensor:
        """The link step's states [N, D] of spans given as rows (sentence ``batch``, positions
        ``start`` to ``end`` inclusive), as ``config.span_representation`` says: the end
        state, the start and end states summed, or the span max-pooled plus its width."""
        if self.config.span_representation == "max_pool_width":
            assert self.span_width_embedding is not None
            pooled = span_max_pool(hidden, batch, start, end)
            return pooled + self.span_width_embedding(span_widths(start, end))
        flat = hidden.reshape(-1, hidden.size(-1))
        offset = batch * hidden.size(1)
        states = flat.index_select(0, offset + end)
        if self.config.span_representation == "start_end_sum":
            states = states + flat.index_select(0, offset + start)
        return states

    def link_logits(
        self, hidden: torch.Tensor, spans: torch.Tensor, span_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Step 3: logits [B, S, S, R] for every ordered pair (head, tail) of spans, given as
        [B, S, 3] (start, end, type); a model without ``link_type_embedding`` also takes
        [B, S, 2].

        With ``span_mask`` [B, S] only the pairs of two different real spans are scored; the
        others (padding slots, a span with itself) get -inf, i.e. never fire. The authors'
        decoding (``config.decoding == "authors"``) also scores a span with itself.
        """
        logits = self._scored_links(hidden, spans, span_mask)
        # Inverse link types are a training signal only: they are never predicted.
        return logits[..., : len(self.config.relation_types)]

    def _scored_links(
        self, hidden: torch.Tensor, spans: torch.Tensor, span_mask: torch.Tensor | None
    ) -> torch.Tensor:
        assert self.link_head is not None
        if self.link_type_embedding is not None and spans.size(-1) < 3:
            raise ValueError("this model's link step reads entity types: give spans [B, S, 3]")
        # Left members are tails, right members heads: pair (h, t) is right[h] + left[t].
        tail_proj, head_proj = self.link_head.project(self.span_states(hidden, spans))
        batch, width, features = head_proj.shape
        if span_mask is not None:
            valid = span_mask[:, :, None] & span_mask[:, None, :]
            if not self.config.authors_decoding:
                valid &= ~torch.eye(width, dtype=torch.bool, device=valid.device)
            return self._pairwise_link_logits(hidden, spans, head_proj, tail_proj, valid)
        if self.link_head.context is not None or self.link_distance_bias is not None:
            # Every pair has its own context (or distance), so pairs are scored as a flat list.
            valid = torch.ones(batch, width, width, dtype=torch.bool, device=hidden.device)
            return self._pairwise_link_logits(hidden, spans, head_proj, tail_proj, valid)
        if torch.is_grad_enabled() or batch * width * width * features <= PAIR_CHUNK_ELEMENTS:
            return self.link_head.score(head_proj.unsqueeze(2), tail_proj.unsqueeze(1))
        # Scoring pairs materialises [B, S, S, 2F] features. An untrained model or a long
        # window can emit hundreds of spans, so at inference heads are scored in chunks that
        # keep that buffer bounded.
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

    def _pairwise_link_logits(
        self,
        hidden: torch.Tensor,
        spans: torch.Tensor,
        head_proj: torch.Tensor,
        tail_proj: torch.Tensor,
        valid: torch.Tensor,
    ) -> torch.Tensor:
        """:meth:`link_logits` over the pairs where ``valid`` [B, S, S] holds, as a flat list
        of pairs; the others get -inf.

        A padded batch scores B * S * S pairs of 2F features each, while its sentences have
        sum(S_b^2) (sentences emit few spans, but one long sentence sets S for all): with the
        wide pair heads that difference is most of the link step's cost from batch 8 up.
        """
        assert self.link_head is not None
        batch, width, features = head_proj.shape
        b, h, t = valid.nonzero(as_tuple=True)
        head_rows, tail_rows = b * width + h, b * width + t
        head_flat, tail_flat = head_proj.reshape(-1, features), tail_proj.reshape(-1, features)
        flat_spans = spans.clamp(min=0).reshape(-1, spans.size(-1))  # (start, end, ...) a slot
        context, tail_of_row = None, None
        if self.link_head.context is not None:
            # Context tables only for the slots that are some pair's tail.
            is_tail = valid.any(dim=1).reshape(-1)
            tail_of_row = is_tail.long().cumsum(0) - 1
            slot = is_tail.nonzero().squeeze(-1)
            index = flat_spans.index_select(0, slot)
            context = TailContext(
                hidden, torch.div(slot, width, rounding_mode="floor"), index[:, 0], index[:, 1]
            )
        head_ends = flat_spans[:, 1]
        relations = self.link_head.out.weight.size(0)
        logits = head_proj.new_full((batch, width, width, relations), float("-inf"))
        # Chunks keep the [pairs, 2F] buffer bounded when an untrained model emits many spans.
        rows = max(1, PAIR_CHUNK_ELEMENTS // features)
        for i in range(0, head_rows.numel(), rows):
            chunk = slice(i, i + rows)
            left = tail_flat.index_select(0, tail_rows[chunk])
            if context is not None:
                between = context.between(
                    tail_of_row[tail_rows[chunk]], head_ends[head_rows[chunk]]
                )
                left = left + self.link_head.project_context(between)
            if self.link_distance_bias is not None:
                tails = flat_spans.index_select(0, tail_rows[chunk])
                left = left + self.link_distance_bias(
                    distance_buckets(tails[:, 0], tails[:, 1], head_ends[head_rows[chunk]])
                )
            logits[b[chunk], h[chunk], t[chunk]] = self.link_head.score(
                head_flat.index_select(0, head_rows[chunk]), left
            ).to(logits.dtype)
        return logits

    # ----------------------------------------------------------------- training
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        start_mask: torch.Tensor | None = None,
        end_mask: torch.Tensor | None = None,
        gold_spans: torch.Tensor | None = None,
        gold_span_mask: torch.Tensor | None = None,
        gold_links: torch.Tensor | None = None,
        gold_link_mask: torch.Tensor | None = None,
        **unused,
    ) -> ITEROutput | ITERLogits:
        """With gold labels, the teacher-forced losses (:meth:`training_losses`); without,
        the three steps' logits on the model's own predictions (:class:`ITERLogits`), as
        Hugging Face models answer ``model(**tokenizer(texts, return_tensors="pt"))``.

        Missing masks are filled in as :meth:`generate` fills them (word boundaries read
        off the tokens).
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if start_mask is None or end_mask is None:
            start_mask, end_mask = self._boundary_masks(input_ids, attention_mask)
        if gold_spans is None:
            return self._step_logits(input_ids, attention_mask, start_mask, end_mask)[0]
        if gold_span_mask is None:
            gold_span_mask = gold_spans[..., 0] >= 0
        return self.training_losses(
            input_ids, attention_mask, start_mask, end_mask, gold_spans, gold_span_mask,
            gold_links, gold_link_mask,
        )  # fmt: skip

    def _boundary_masks(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.authors_decoding:
            # As the authors' generate: any non-padding sub-word may start or end a span.
            positions = attention_mask.bool()
            return positions, positions.clone()
        if self._tokenizer is None:
            raise ValueError(
                "without start_mask/end_mask the model reads word boundaries off the tokens "
                "and needs model.tokenizer; load the model with from_pretrained"
            )
        start_mask, end_mask = word_boundary_masks(
            self._tokenizer, input_ids.cpu(), attention_mask.cpu()
        )
        return start_mask.to(input_ids.device), end_mask.to(input_ids.device)

    def training_losses(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        start_mask: torch.Tensor,
        end_mask: torch.Tensor,
        gold_spans: torch.Tensor,
        gold_span_mask: torch.Tensor,
        gold_links: torch.Tensor | None = None,
        gold_link_mask: torch.Tensor | None = None,
    ) -> ITEROutput:
        """Teacher-forced losses of all three steps, computed in parallel.

        start_mask / end_mask [B, L]: positions where a span may start / end (first and last
        sub-words of scored words). gold_spans [B, S, 3]: (start position, end position
        inclusive, entity type id), valid where gold_span_mask [B, S]. gold_links [B, Q, 3]:
        (head span index, tail span index, relation type id), valid where gold_link_mask.
        Each step's loss is summed over its elements and reduced as ``loss_reduction`` says.
        """
        hidden = self.encode(input_ids, attention_mask)  # [B, L, D]
        batch, length = input_ids.shape
        reduction = self.config.loss_reduction
        gold = _GoldSpans(gold_spans, gold_span_mask, length)

        # Step 1: starts, scored where a span may start.
        gold_starts = torch.zeros_like(start_mask)
        gold_starts[gold.batch, gold.start] = True
        gold_starts &= start_mask
        start_logits = self.start_logits(hidden, start_mask)  # [N]
        start_loss = reduce_loss(
            *binary_loss(start_logits, gold_starts[start_mask]), batch, reduction
        )

        # Step 2: typed spans, paired with the gold starts (teacher forcing).
        logits, pairs = self.span_logits(hidden, gold_starts, end_mask)
        gold_types = torch.zeros(
            logits.size(0), len(self.config.entity_types), dtype=torch.bool, device=logits.device
        )
        if logits.size(0) > 0:
            found_at, found = _find_keys(pairs.keys(length), gold.keys)
            gold_types[found_at[found], gold.type[found]] = True
        if self.config.span_objective == "sigmoid":
            span_terms = sigmoid_span_loss(logits, gold_types)
        else:
            gold_ends = torch.zeros_like(end_mask)
            gold_ends[gold.batch, gold.end] = True
            ends_gold_span = gold_ends[pairs.batch, pairs.end]
            span_loss_of = nested_span_loss if self.config.has_none_class else flat_span_loss
            span_terms = span_loss_of(logits, gold_types, ends_gold_span)
        span_loss = reduce_loss(*span_terms, batch, reduction)

        # Step 3: links from every candidate head to every gold tail.
        link_loss = hidden.new_zeros((), dtype=torch.float)
        if self.link_head is not None and gold.count > 0:
            link_loss = reduce_loss(
                *self._link_loss(hidden, attention_mask, gold_starts, gold, gold_links,
                                 gold_link_mask),
                batch,
                reduction,
            )  # fmt: skip

        loss = start_loss + span_loss + link_loss
        return ITEROutput(
            loss=loss,
            start_loss=start_loss.detach(),
            span_loss=span_loss.detach(),
            link_loss=link_loss.detach(),
            start_logits=start_logits,
        )

    def _link_heads(
        self,
        hidden: torch.Tensor,
        head_mask: torch.Tensor,
        gold_starts: torch.Tensor,
        gold: _GoldSpans,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The spans the link step pairs with gold tails, as (states, batch, keys, ends) rows.

        Flat data represents a span by its end, so every position of ``head_mask`` is a
        head, keyed by (batch, end). Nested data represents a span by its start and end
        states (and the pooled representation by the whole span), so the heads are each
        masked position paired with its k closest gold starts, keyed as :func:`pair_keys`
        keys them.
        """
        length = head_mask.size(1)
        if self.config.span_representation == "end":
            flat = head_mask.reshape(-1).nonzero().squeeze(-1)
            states = hidden.reshape(-1, hidden.size(-1)).index_select(0, flat)
            batch, keys = torch.div(flat, length, rounding_mode="floor"), flat
            ends = flat - batch * length
        else:
            pairs = candidate_pairs(gold_starts, head_mask, self.config.nesting_depth)
            states = self.span_rows(hidden, pairs.batch, pairs.start, pairs.end)
            batch, keys, ends = pairs.batch, pairs.keys(length), pairs.end
        if self.link_type_embedding is not None:
            # The gold type of the span a head is, the last row where it is none.
            types = torch.full_like(keys, len(self.config.entity_types))
            at, found = _find_keys(keys, gold.link_keys(self.config))
            types[at[found]] = gold.type[found]
            states = states + self.link_type_embedding(types)
        return states, batch, keys, ends

    def _link_loss(
        self,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor,
        gold_starts: torch.Tensor,
        gold: _GoldSpans,
        gold_links: torch.Tensor | None,
        gold_link_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, int]:
        """Summed link loss over (head, gold tail, relation type) and its element count.

        ``link_pairs='dense'`` (the authors'): every non-padding position is a head, so
        positions that end no span are negatives; ``'gold'``: only the gold spans are.
        """
        assert self.link_head is not None
        if self.config.link_pairs == "dense":
            head_mask = attention_mask.bool()
        else:
            head_mask = torch.zeros_like(attention_mask, dtype=torch.bool)
            head_mask[gold.batch, gold.end] = True
        head_states, head_batch, head_keys, head_ends = self._link_heads(
            hidden, head_mask, gold_starts, gold
        )
        tail_states = self._gold_span_states(hidden, gold)
        # Pairs within each sentence: head row i with gold tail j.
        head_index, tail_index = (head_batch[:, None] == gold.batch[None, :]).nonzero(as_tuple=True)
        tail_proj = self.link_head.project_left(tail_states)
        head_proj = self.link_head.project_right(head_states)
        left = tail_proj.index_select(0, tail_index)
        if self.link_head.context is not None:
            context = TailContext(hidden, gold.batch, gold.start, gold.end)
            between = context.between(tail_index, head_ends.index_select(0, head_index))
            left = left + self.link_head.project_context(between)
        if self.link_distance_bias is not None:
            left = left + self.link_distance_bias(
                distance_buckets(
                    gold.start.index_select(0, tail_index),
                    gold.end.index_select(0, tail_index),
                    head_ends.index_select(0, head_index),
                )
            )
        logits = self.link_head.score(head_proj.index_select(0, head_index), left)  # [Q, R]

        relations = len(self.config.relation_types)
        targets = logits.new_zeros(head_states.size(0), gold.count, logits.size(-1))
        if gold_links is not None and gold_link_mask is not None and bool(gold_link_mask.any()):
            link_batch = torch.arange(gold_links.size(0), device=gold_links.device)
            link_batch = link_batch[:, None].expand_as(gold_link_mask)[gold_link_mask]
            head_span, tail_span, relation = gold_links[gold_link_mask].unbind(-1)
            # Gold span (b, s) is row gold.row[b, s] among the valid gold spans.
            head_row, tail_row = gold.row[link_batch, head_span], gold.row[link_batch, tail_span]
            gold_keys = gold.link_keys(self.config)
            head_unit, head_found = _find_keys(head_keys, gold_keys[head_row])
            tail_unit, tail_found = _find_keys(head_keys, gold_keys[tail_row])
            targets[head_unit[head_found], tail_row[head_found], relation[head_found]] = 1.0
            # A symmetric relation holds in both directions.
            symmetric = self.symmetric_relation_mask(relation.device)[relation]
            both_ways = symmetric & tail_found
            targets[tail_unit[both_ways], head_row[both_ways], relation[both_ways]] = 1.0
            if self.config.inverse_link_types:
                # The reverse of a directed link is its type's inverse (the authors' bit 18).
                inverse = ~symmetric & tail_found
                targets[tail_unit[inverse], head_row[inverse], relation[inverse] + relations] = 1.0
        return binary_loss(logits, targets[head_index, tail_index])

    def _gold_span_states(self, hidden: torch.Tensor, gold: _GoldSpans) -> torch.Tensor:
        """States [G, D] of the valid gold spans, in their flat order."""
        states = self.span_rows(hidden, gold.batch, gold.start, gold.end)
        if self.link_type_embedding is not None:
            states = states + self.link_type_embedding(gold.type)
        return states

    # ----------------------------------------------------------------- inference
    def _step_logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        start_mask: torch.Tensor,
        end_mask: torch.Tensor,
        for_output: bool = True,
    ) -> tuple[ITERLogits, list[SentenceDecoding]]:
        """The three steps on the model's own predictions: starts where the start logit is
        positive, spans where step 2 emits one, links scored between the emitted spans.

        ``for_output=False`` (decoding) skips laying out the start logits over all positions
        and the pairs table, which only a caller of ``forward`` reads."""
        hidden = self.encode(input_ids, attention_mask)
        start_logits = self.start_logits(hidden, start_mask)
        starts = torch.zeros_like(start_mask).masked_scatter_(start_mask, start_logits > 0)
        span_logits, pairs = self.span_logits(hidden, starts, end_mask)
        spans, span_mask, sentences = decode_spans(
            span_logits, pairs, input_ids.size(0), self.span_decision, self.config.drops_overlaps
        )
        link_logits = None
        # A link needs two spans in one sentence (one where a span may link to itself).
        fewest = 1 if self.config.authors_decoding else 2
        if self.link_head is not None and spans.size(1) >= fewest:
            link_logits = self.link_logits(hidden, spans, span_mask)
        dense_starts, pair_table = None, None
        if for_output:
            dense_starts = start_logits.new_full(start_mask.shape, float("-inf"))
            dense_starts = dense_starts.masked_scatter(start_mask, start_logits)
            pair_table = torch.stack((pairs.batch, pairs.start, pairs.end), dim=-1)
        logits = ITERLogits(
            start_logits=dense_starts,
            span_logits=span_logits,
            span_pairs=pair_table,
            spans=spans,
            span_mask=span_mask,
            link_logits=link_logits,
        )
        return logits, sentences

    @torch.inference_mode()
    def decode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        start_mask: torch.Tensor,
        end_mask: torch.Tensor,
        link_threshold: float | None = None,
    ) -> list[SentenceDecoding]:
        """Predicted spans and links per sentence, at sub-word positions; a link fires where
        its probability exceeds ``link_threshold`` (default: the config's)."""
        logits, sentences = self._step_logits(
            input_ids, attention_mask, start_mask, end_mask, for_output=False
        )
        if logits.link_logits is not None:
            authors = self.config.authors_decoding
            symmetric = (
                self.symmetric_relation_mask(logits.link_logits.device)
                if self.config.symmetric_relation_types and not authors
                else None
            )
            threshold = self.config.link_threshold if link_threshold is None else link_threshold
            decode_links(
                logits.link_logits,
                logits.span_mask,
                symmetric,
                threshold,
                sentences,
                authors,
                allowed=self.allowed_links(logits.spans),
            )
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
        never start or end inside a word; a model with ``config.decoding == "authors"`` (a
        checkpoint of the authors' code) uses every non-padding sub-word instead, as theirs.
        """
        if self._tokenizer is None:
            raise ValueError(
                "generate() needs model.tokenizer; load the model with from_pretrained"
            )
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if start_mask is None or end_mask is None:
            start_mask, end_mask = self._boundary_masks(input_ids, attention_mask)
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
        threshold: float | None = None,
        progress: bool = False,
        by_sentence: bool = True,
    ) -> list[TextPrediction]:
        """Entities (type, character offsets, text, score) and relations (head, tail, type,
        probability) for plain strings or pre-tokenized word lists.

        ``threshold``: the probability a relation must exceed (default: the config's
        ``link_threshold``, 0.5); ``progress``: show a progress bar over the batches;
        ``by_sentence``: split strings into sentences, predicted one by one (the models are
        trained on sentences); false sends each string through whole.
        Batches are sorted by length; long texts are split into windows that fit the encoder.
        Returns one :class:`~iter.inference.text.TextPrediction` per text.
        """
        if self._tokenizer is None:
            raise ValueError("predict() needs model.tokenizer; load the model with from_pretrained")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if threshold is not None and not 0 <= threshold < 1:
            raise ValueError(f"threshold must be a probability in [0, 1), got {threshold}")
        if isinstance(texts, str):
            texts = [texts]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            def bar(batches, total):
                return tqdm(batches, total=total, desc="predict", unit="batch")

        return predict_texts(
            self,
            texts,
            batch_size=batch_size,
            progress=bar,
            link_threshold=threshold,
            by_sentence=by_sentence,
        )


class ITER(ITERForRelationExtraction):
    """ITER for entities only (no relation types, no link step)."""

    def __init__(self, config: ITERConfig) -> None:
        if config.relation_types:
            raise ValueError("ITER predicts entities only; use ITERForRelationExtraction for links")
        super().__init__(config)


# Known to the Auto classes, so AutoConfig / AutoModel / AutoTokenizer read ITER folders.
AutoConfig.register(ITERConfig.model_type, ITERConfig, exist_ok=True)
AutoModel.register(ITERConfig, ITERForRelationExtraction, exist_ok=True)
