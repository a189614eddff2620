"""ITER: iterative, encoder-only, non-autoregressive joint entity and relation extraction."""

from iter.data.document import Document, Entity, Relation
from iter.modeling.configuration import ITERConfig
from iter.modeling.decoding import GenerationOutput, PredictedEntity, PredictedLink
from iter.modeling.model import ITER, ITERForRelationExtraction
from iter.version import __version__

__all__ = [
    "ITER",
    "Document",
    "Entity",
    "GenerationOutput",
    "ITERConfig",
    "ITERForRelationExtraction",
    "PredictedEntity",
    "PredictedLink",
    "Relation",
    "__version__",
]
