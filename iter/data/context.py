"""Cross-sentence context: neighbouring words the encoder sees but that are never scored."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from iter.data.document import Document

logger = logging.getLogger(__name__)


def add_context(documents: Sequence[Document], window: int) -> list[Document]:
    """Give each sentence up to ``window`` words of its neighbours on either side.

    Neighbours are the adjacent sentences in file order with the same ``doc_key``; sentences
    without a ``doc_key`` get no context, since file order alone does not prove that two
    sentences come from one document.
    """
    out: list[Document] = []
    without_key = 0
    for i, doc in enumerate(documents):
        if doc.doc_key is None:
            without_key += 1
            out.append(doc)
            continue
        left: list[str] = []
        j = i - 1
        while j >= 0 and len(left) < window and documents[j].doc_key == doc.doc_key:
            left = list(documents[j].tokens) + left
            j -= 1
        right: list[str] = []
        j = i + 1
        while j < len(documents) and len(right) < window and documents[j].doc_key == doc.doc_key:
            right.extend(documents[j].tokens)
            j += 1
        out.append(
            dataclasses.replace(
                doc,
                left_context=tuple(left[len(left) - window :] if len(left) > window else left),
                right_context=tuple(right[:window]),
            )
        )
    if without_key:
        logger.warning(
            "%d of %d sentences have no doc_key and get no cross-sentence context",
            without_key,
            len(documents),
        )
    return out
