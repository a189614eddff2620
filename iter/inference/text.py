"""Raw text in, entities and relations with character offsets out.

Text is split into words (abbreviations such as ``U.S.`` stay whole, other punctuation is
its own word, as in the training corpora); each word keeps its character span, so every
prediction is grounded in the input string. Texts longer than the encoder's limit are split
into word-aligned windows by the encoder pipeline and merged back; relations between two
windows cannot be found, and the log says how many texts were windowed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from iter.data.document import Document
from iter.inference.documents import Autocast, Decoder, predict_scored

WORD = re.compile(r"(?:[^\W\d_]\.){2,}|\w+(?:[-'’]\w+)*|\S", re.UNICODE)


@dataclass(frozen=True)
class TextEntity:
    type: str
    start: int  # character offsets into the input text, end exclusive
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class TextRelation:
    head: int  # index into the entities of the same text
    tail: int
    type: str
    probability: float


@dataclass(frozen=True)
class TextPrediction:
    text: str
    entities: tuple[TextEntity, ...]
    relations: tuple[TextRelation, ...]

    def to_dict(self) -> dict:
        out = asdict(self)
        for relation in out["relations"]:
            relation["head_text"] = self.entities[relation["head"]].text
            relation["tail_text"] = self.entities[relation["tail"]].text
        return out


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for each word of ``text``."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def _as_words(item: str | Sequence[str]) -> tuple[str, list[tuple[str, int, int]]]:
    if isinstance(item, str):
        return item, split_words(item)
    words, position = [], 0
    for word in item:
        words.append((word, position, position + len(word)))
        position += len(word) + 1
    return " ".join(item), words


def predict_texts(
    model: Decoder,
    texts: Sequence[str | Sequence[str]],
    batch_size: int = 32,
    autocast: Autocast = contextlib.nullcontext,
    progress: Callable | None = None,
    link_threshold: float | None = None,
) -> list[TextPrediction]:
    """Predictions for plain strings or pre-tokenized word lists (joined by spaces)."""
    prepared = [_as_words(item) for item in texts]
    # A text without words (empty or blank) gets an empty prediction; it is not sent through.
    nonempty = [i for i, (_, words) in enumerate(prepared) if words]
    documents = [Document(tuple(w for w, _, _ in prepared[i][1])) for i in nonempty]
    scored = predict_scored(
        model, documents, batch_size, autocast, progress=progress, link_threshold=link_threshold
    )
    by_index = dict(zip(nonempty, scored, strict=True))
    results = []
    for i, (text, words) in enumerate(prepared):
        annotations = by_index.get(i)
        if annotations is None:
            results.append(TextPrediction(text, (), ()))
            continue
        ordered = sorted(annotations.entities.items(), key=lambda item: item[0])
        position = {entity: k for k, (entity, _) in enumerate(ordered)}
        entities = tuple(
            TextEntity(
                type=entity.type,
                start=words[entity.start][1],
                end=words[entity.end - 1][2],
                text=text[words[entity.start][1] : words[entity.end - 1][2]],
                score=round(score, 4),
            )
            for entity, score in ordered
        )
        relations = tuple(
            TextRelation(position[r.head], position[r.tail], r.type, round(p, 4))
            for r, p in sorted(annotations.relations.items(), key=lambda item: item[0])
        )
        results.append(TextPrediction(text, entities, relations))
    return results
