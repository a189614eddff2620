"""ITER: iterative, encoder-only, non-autoregressive joint entity and relation extraction.

The public names load on first use, so ``import iter`` (and ``iter --help``) does not pull in
torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from iter.version import __version__

_PUBLIC = {
    "Document": "iter.data.document",
    "Entity": "iter.data.document",
    "Relation": "iter.data.document",
    "ITERConfig": "iter.modeling.configuration",
    "GenerationOutput": "iter.modeling.decoding",
    "PredictedEntity": "iter.modeling.decoding",
    "PredictedLink": "iter.modeling.decoding",
    "ITER": "iter.modeling.model",
    "ITERForRelationExtraction": "iter.modeling.model",
    "train": "iter.api",
}

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
    "train",
]

if TYPE_CHECKING:
    from iter.api import train
    from iter.data.document import Document, Entity, Relation
    from iter.modeling.configuration import ITERConfig
    from iter.modeling.decoding import GenerationOutput, PredictedEntity, PredictedLink
    from iter.modeling.model import ITER, ITERForRelationExtraction


def __getattr__(name: str) -> object:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'iter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
