"""The configuration of an ITER model: its encoder, its types and the sizes of its heads."""

from __future__ import annotations

from collections.abc import Sequence

from transformers import AutoConfig, PretrainedConfig


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
        d_ff: int = 768,
        dropout: float = 0.3,
        activation: str = "gelu",
        link_threshold: float = 0.5,
        span_representation: str | None = None,
        max_sequence_length: int = 512,
        base_model_name: str | None = None,
        dataset: str | None = None,
        initializer_range: float = 0.02,
        **kwargs,
    ) -> None:
        unknown_symmetric = set(symmetric_relation_types) - set(relation_types)
        if unknown_symmetric:
            raise ValueError(
                f"symmetric_relation_types {sorted(unknown_symmetric)} are not relation types"
            )
        if nesting_depth < 1:
            raise ValueError(f"nesting_depth must be >= 1, got {nesting_depth}")
        if span_representation is None:
            # Flat spans are identified by their end; nested spans may share one, so add the start.
            span_representation = "end" if nesting_depth == 1 else "start_end_sum"
        if span_representation not in ("end", "start_end_sum"):
            raise ValueError(f"unknown span_representation {span_representation!r}")
        self.encoder_config = encoder_config or {}
        self.entity_types = list(entity_types)
        self.relation_types = list(relation_types)
        self.symmetric_relation_types = list(symmetric_relation_types)
        self.nesting_depth = nesting_depth
        self.d_ff = d_ff
        self.dropout = dropout
        self.activation = activation
        self.link_threshold = link_threshold
        self.span_representation = span_representation
        self.max_sequence_length = max_sequence_length
        self.base_model_name = base_model_name
        self.dataset = dataset
        self.initializer_range = initializer_range
        super().__init__(**kwargs)

    def build_encoder_config(self) -> PretrainedConfig:
        if not self.encoder_config:
            raise ValueError("ITERConfig.encoder_config is empty: the encoder cannot be built")
        settings = dict(self.encoder_config)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)
