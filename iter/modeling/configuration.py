"""The configuration of an ITER model: its encoder, its types and the sizes of its heads."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import AutoConfig, PretrainedConfig
from transformers.activations import ACT2FN

from iter.errors import ConfigError
from iter.inference.text import TextSplitting
from iter.modeling.layer_mix import LAYER_MIXES
from iter.modeling.link_context import LINK_CONTEXTS

# The objective's choices (METHOD.md, "What the published code trains"). The first of each is
# the authors' and the default; the others reproduce this project's earlier objective for the
# ablation in benchmarks/ablation.
SPAN_OBJECTIVES = ("softmax", "sigmoid")
LINK_PAIRS = ("dense", "gold")
LOSS_REDUCTIONS = ("sum", "batch", "mean")
# How the link step sees a span (null in a config: the authors' choice for the nesting); the
# last is beyond the paper (iter/modeling/span_pooling.py).
SPAN_REPRESENTATIONS = ("end", "start_end_sum", "max_pool_width")
# How ``generate`` decodes without masks. "words" (ours): spans start and end at word
# boundaries, a span is never linked to itself, symmetric relations are emitted once.
# "authors": as the authors' ``generate`` (checkpoints saved by their code are loaded with
# it): every non-padding sub-word (special tokens included) may start and end a span, every
# ordered pair of spans is scored, a span with itself included, and nothing is de-duplicated.
DECODINGS = ("words", "authors")


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"model.{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _text_splitting(value: dict | None) -> dict:
    """How raw text is split for this model, as its training corpus was (recorded so that
    ``predict`` splits text the same way); see :class:`~iter.inference.text.TextSplitting`."""
    try:
        return TextSplitting(**(value or {})).to_dict()
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None


def _check_types_and_heads(
    relation_types: Sequence[str],
    symmetric_relation_types: Sequence[str],
    nesting_depth: int,
    d_ff: object,
    dropout: object,
    activation: object,
) -> None:
    unknown_symmetric = set(symmetric_relation_types) - set(relation_types)
    if unknown_symmetric:
        raise ConfigError(
            f"symmetric_relation_types {sorted(unknown_symmetric)} are not relation types"
        )
    if nesting_depth < 1:
        raise ConfigError(f"nesting_depth must be >= 1, got {nesting_depth}")
    if isinstance(d_ff, bool) or not isinstance(d_ff, int) or d_ff < 0:
        raise ConfigError(
            f"model.d_ff must be a width >= 1, or 0 for the encoder's own; got {d_ff!r}"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not (0 <= dropout < 1):
        raise ConfigError(f"model.dropout must be a number in [0, 1); got {dropout!r}")
    if activation not in ACT2FN:
        raise ConfigError(
            f"model.activation {activation!r} is unknown; known: {', '.join(sorted(ACT2FN))}"
        )


def _relation_signatures(
    signatures: Sequence[Sequence[str]] | None,
    entity_types: Sequence[str],
    relation_types: Sequence[str],
) -> list[list[str]] | None:
    """The (head type, relation type, tail type) triples links may take; None: any."""
    if signatures is None:
        return None
    if isinstance(signatures, str) or not isinstance(signatures, Sequence):
        raise ConfigError(
            f"relation_signatures: a list of [head type, relation type, tail type]; "
            f"got {signatures!r}"
        )
    checked = []
    for triple in signatures:
        if isinstance(triple, str) or not isinstance(triple, Sequence) or len(triple) != 3:
            raise ConfigError(
                f"relation_signatures: each entry is [head type, relation type, tail type]; "
                f"got {triple!r}"
            )
        head, relation, tail = (str(name) for name in triple)
        unknown = [n for n in (head, tail) if n not in entity_types]
        if relation not in relation_types:
            unknown.append(relation)
        if unknown:
            raise ConfigError(
                f"relation_signatures: {[head, relation, tail]} names unknown types {unknown}"
            )
        checked.append([head, relation, tail])
    return checked


def encoder_ff_width(encoder_config: dict) -> int:
    """The encoder's own feed-forward width: what ``d_ff: 0`` stands for."""
    for key in ("d_ff", "intermediate_size", "encoder_ffn_dim"):
        value = encoder_config.get(key)
        if value:
            return int(value)
    raise ConfigError(
        f"model.d_ff is 0 (the encoder's feed-forward width), but an encoder of type "
        f"{encoder_config.get('model_type')!r} states none; set model.d_ff to a width"
    )


class ITERConfig(PretrainedConfig):
    """Configuration of :class:`~iter.modeling.model.ITERForRelationExtraction`.

    ``encoder_config`` holds the full encoder configuration as a dict, so a saved model can be
    rebuilt from its folder alone, without the hub.
    """

    model_type = "iter"

    def __init__(
        self,
        encoder_config: dict | None = None,
        entity_types: Sequence[str] = (),
        relation_types: Sequence[str] = (),
        symmetric_relation_types: Sequence[str] = (),
        nesting_depth: int = 1,
        d_ff: int = 0,
        double_pair_width: bool | None = None,
        dropout: float = 0.3,
        activation: str = "gelu",
        head_input_dropout: bool = False,
        span_objective: str = "softmax",
        link_pairs: str = "dense",
        loss_reduction: str = "sum",
        link_type_embedding: bool = False,
        link_context: str = "none",
        link_distance: bool = False,
        layer_mix: str = "last",
        inverse_link_types: bool = False,
        relation_signatures: Sequence[Sequence[str]] | None = None,
        drop_overlapping_spans: bool = False,
        link_threshold: float = 0.5,
        span_representation: str | None = None,
        max_sequence_length: int = 512,
        base_model_name: str | None = None,
        dataset: str | None = None,
        initializer_range: float = 0.02,
        decoding: str = "words",
        text_splitting: dict | None = None,
        **kwargs,
    ) -> None:
        _check_types_and_heads(
            relation_types, symmetric_relation_types, nesting_depth, d_ff, dropout, activation
        )
        if double_pair_width is None:
            # The authors' configs: d_ff 0 means the encoder's width, and then the two pair
            # heads (whose input is two states) are twice as wide.
            double_pair_width = d_ff == 0
        if d_ff == 0 and encoder_config:
            d_ff = encoder_ff_width(encoder_config)
        if span_representation is None:
            # Flat spans are identified by their end; nested spans may share one, so add the start.
            span_representation = "end" if nesting_depth == 1 else "start_end_sum"
        _choice("span_representation", span_representation, SPAN_REPRESENTATIONS)
        self.encoder_config = encoder_config or {}
        self.entity_types = list(entity_types)
        self.relation_types = list(relation_types)
        self.symmetric_relation_types = list(symmetric_relation_types)
        self.nesting_depth = nesting_depth
        self.d_ff = d_ff
        self.double_pair_width = bool(double_pair_width)
        self.dropout = dropout
        self.activation = activation
        self.head_input_dropout = bool(head_input_dropout)
        self.span_objective = _choice("span_objective", span_objective, SPAN_OBJECTIVES)
        self.link_pairs = _choice("link_pairs", link_pairs, LINK_PAIRS)
        self.loss_reduction = _choice("loss_reduction", loss_reduction, LOSS_REDUCTIONS)
        self.link_type_embedding = bool(link_type_embedding)
        self.link_context = _choice("link_context", link_context, LINK_CONTEXTS)
        self.link_distance = bool(link_distance)  # beyond the paper: link_context.py
        self.layer_mix = _choice("layer_mix", layer_mix, LAYER_MIXES)  # beyond: layer_mix.py
        self.inverse_link_types = bool(inverse_link_types)
        # Beyond the paper: decoding links only the type triples listed (those seen in
        # training, with ``model.signature_constraint``); None links any types.
        self.relation_signatures = _relation_signatures(
            relation_signatures, entity_types, relation_types
        )
        # Beyond the paper: on flat data, decoding keeps only the best-scored of overlapping
        # spans (see :attr:`drops_overlaps`).
        self.drop_overlapping_spans = bool(drop_overlapping_spans)
        self.link_threshold = link_threshold
        self.span_representation = span_representation
        self.max_sequence_length = max_sequence_length
        self.base_model_name = base_model_name
        self.dataset = dataset
        self.initializer_range = initializer_range
        self.decoding = _choice("decoding", decoding, DECODINGS)
        self.text_splitting = _text_splitting(text_splitting)
        super().__init__(**kwargs)

    @property
    def pair_d_ff(self) -> int:
        """Inner width of the span and link heads."""
        return self.d_ff * (2 if self.double_pair_width else 1)

    @property
    def drops_overlaps(self) -> bool:
        """Whether decoding drops overlapping spans: asked for, and the data is flat (nested
        data's entities overlap by nature, so there the option does nothing)."""
        return self.drop_overlapping_spans and self.nesting_depth == 1

    @property
    def authors_decoding(self) -> bool:
        """Decoding as the authors' ``generate`` does (see :data:`DECODINGS`)."""
        return self.decoding == "authors"

    @property
    def has_none_class(self) -> bool:
        """Nested data under the softmax objective: each (start, end) pair has a NONE class."""
        return self.span_objective == "softmax" and self.nesting_depth > 1

    def build_encoder_config(self) -> PretrainedConfig:
        if not self.encoder_config:
            raise ValueError("ITERConfig.encoder_config is empty: the encoder cannot be built")
        settings = dict(self.encoder_config)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)
