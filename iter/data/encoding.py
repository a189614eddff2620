"""Documents → sub-word segments with gold span/link targets, through HF ``datasets``.

Each document becomes one segment (``[prefix specials] context + words + context [suffix]``)
or, when its words do not fit the encoder, several word-aligned windows. Nothing is cut
silently: :class:`EncodingReport` counts windows, trimmed context and annotations that cross
a window boundary, and the caller logs it. Word spans map to sub-word positions as METHOD.md
states: first sub-word of the first word, last sub-word of the last word.

``encode_documents`` caches its result on disk keyed by a fingerprint of the documents, the
tokenizer and the settings, so a second run does not tokenize again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase

from iter.data.document import Document
from iter.errors import DatasetFormatError

logger = logging.getLogger(__name__)

# Bump when the encoded layout changes, so stale caches are not reused.
ENCODING_VERSION = 3


@dataclass(frozen=True)
class EncodingReport:
    documents: int
    segments: int
    split_documents: int
    trimmed_context: int
    lost_entities: int
    lost_relations: int

    def describe(self, max_length: int) -> str | None:
        """A sentence for the log when anything had to be done to fit ``max_length``."""
        parts = []
        if self.split_documents:
            parts.append(
                f"{self.split_documents} of {self.documents} sentences exceed {max_length} "
                f"sub-words and were split into word-aligned windows "
                f"({self.segments - self.documents + self.split_documents} windows); "
                f"{self.lost_entities} gold entities and {self.lost_relations} gold relations "
                "cross a window boundary and cannot be predicted (they still count in the metrics)"
            )
        if self.trimmed_context:
            parts.append(
                f"{self.trimmed_context} sentences had their cross-sentence context trimmed to fit"
            )
        return "; ".join(parts) or None


def special_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The special token ids the tokenizer puts before and after a sequence."""
    probe = tokenizer(["x"], is_split_into_words=True, add_special_tokens=True)
    word_ids = probe.word_ids()
    ids = probe["input_ids"]
    first = word_ids.index(0)
    last = len(word_ids) - 1 - word_ids[::-1].index(0)
    return ids[:first], ids[last + 1 :]


def _word_pieces(
    tokenizer: PreTrainedTokenizerBase, words_batch: Sequence[Sequence[str]]
) -> list[list[list[int]]]:
    """Sub-word ids per word; words the tokenizer drops entirely become the unknown token."""
    # verbose=False: whole sentences may exceed the encoder's limit here; they are windowed
    # afterwards, and the report says so, so the tokenizer's length warning would mislead.
    encoded = tokenizer(
        [list(w) for w in words_batch],
        is_split_into_words=True,
        add_special_tokens=False,
        verbose=False,
    )
    result = []
    for b, words in enumerate(words_batch):
        pieces: list[list[int]] = [[] for _ in words]
        for token_id, word in zip(encoded["input_ids"][b], encoded.word_ids(b), strict=True):
            if word is not None:
                pieces[word].append(token_id)
        for w, ids in enumerate(pieces):
            if not ids:
                # E.g. a zero-width space: the encoder must still see a position for the word.
                pieces[w] = [tokenizer.unk_token_id]
        result.append(pieces)
    return result


def _windows(
    lengths: Sequence[int], budget: int, entities: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Word ranges [a, b) whose sub-words fit ``budget``, preferring cuts outside entities."""
    inside = set()
    for start, end in entities:
        inside.update(range(start + 1, end))  # a cut before word w splits entities covering it
    windows = []
    a = 0
    while a < len(lengths):
        total, b = 0, a
        while b < len(lengths) and total + lengths[b] <= budget:
            total += lengths[b]
            b += 1
        if b < len(lengths):
            safe = [c for c in range(b, a, -1) if c not in inside]
            if safe:
                b = safe[0]
        windows.append((a, b))
        a = b
    return windows


@dataclass(frozen=True)
class _Source:
    """One document of a batch: its words' sub-words, context included, and its gold facts."""

    index: int  # position among the encoded documents
    source: str  # names the file in errors
    tokens: list[str]  # the sentence's own words
    pieces: list[list[int]]  # sub-word ids per word: left context, sentence, right context
    lengths: list[int]  # sub-words per word, as ``pieces``
    left: int  # words of left context before the sentence
    entities: list[tuple[int, int, str]]  # (start, end, type), sentence word offsets
    relations: list[tuple[int, int, str]]  # (head, tail, type), entity indices


def _batch_sources(
    batch: dict, indices: list[int], tokenizer: PreTrainedTokenizerBase
) -> list[_Source]:
    """The batch's documents, tokenized together (one tokenizer call per batch)."""
    all_words = [
        [*left, *words, *right]
        for left, words, right in zip(
            batch["left_context"], batch["tokens"], batch["right_context"], strict=True
        )
    ]
    pieces_batch = _word_pieces(tokenizer, all_words)
    return [
        _Source(
            index=doc_index,
            source=batch["source"][row],
            tokens=batch["tokens"][row],
            pieces=pieces_batch[row],
            lengths=[len(p) for p in pieces_batch[row]],
            left=len(batch["left_context"][row]),
            entities=_columns(batch, row, "entity_starts", "entity_ends", "entity_types"),
            relations=_columns(batch, row, "relation_heads", "relation_tails", "relation_types"),
        )
        for row, doc_index in enumerate(indices)
    ]


def _columns(batch: dict, row: int, *names: str) -> list[tuple]:
    """Row ``row`` of the batch's parallel per-annotation columns, as one tuple per annotation."""
    return list(zip(*(batch[name][row] for name in names), strict=True))


def _trim_context(
    lengths: Sequence[int], left: int, n_words: int, budget: int
) -> tuple[tuple[int, int], int]:
    """The word range [lo, hi) kept around a sentence that fits, and 1 if context was cut.

    Keeps as much context as fits, trimming the words farthest from the sentence.
    """
    lo, hi = 0, len(lengths)
    trimmed = 0
    while sum(lengths[lo:hi]) > budget:
        trimmed = 1
        if left - lo >= hi - (left + n_words) and lo < left:
            lo += 1
        else:
            hi -= 1
    return (lo, hi), trimmed


def _check_word_sizes(
    doc: _Source, sentence_lengths: Sequence[int], budget: int, max_length: int
) -> None:
    """A word no window can hold is a data error, not something to cut silently."""
    for w, size in enumerate(sentence_lengths):
        if size > budget:
            raise DatasetFormatError(
                doc.source,
                f"word {w} ({doc.tokens[w][:40]!r}...) alone is {size} sub-words, "
                f"more than the encoder's limit of {max_length}",
                document=doc.index,
                field=f"tokens[{w}]",
            )


def _layout(
    doc: _Source, budget: int, max_length: int
) -> tuple[list[tuple[int, int]], tuple[int, int] | None, int]:
    """How a document fits the encoder: (its windows, as sentence word ranges [a, b); the
    range of all its words kept when the sentence fits whole, else None; 1 if context was cut).
    """
    lengths = doc.lengths
    n_words = len(doc.tokens)
    sentence_lengths = lengths[doc.left : doc.left + n_words]
    if sum(sentence_lengths) <= budget:
        context, trimmed = _trim_context(lengths, doc.left, n_words, budget)
        return [(0, n_words)], context, trimmed
    _check_word_sizes(doc, sentence_lengths, budget, max_length)
    windows = _windows(sentence_lengths, budget, [(s, e) for s, e, _ in doc.entities])
    return windows, None, 0


def _within(a: int, b: int, entity: tuple[int, int, str]) -> bool:
    return a <= entity[0] and entity[1] <= b


def _lost_annotations(doc: _Source, windows: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Gold entities and relations that no single window holds whole."""
    entities = doc.entities
    lost_entities = sum(1 for e in entities if not any(_within(a, b, e) for a, b in windows))
    lost_relations = sum(
        1
        for h, t, _ in doc.relations
        if not any(_within(a, b, entities[h]) and _within(a, b, entities[t]) for a, b in windows)
    )
    return lost_entities, lost_relations


def _segment_ids(
    doc: _Source,
    words: tuple[int, int],
    window: tuple[int, int],
    prefix: Sequence[int],
    suffix: Sequence[int],
) -> tuple[list[int], list[int], list[int]]:
    """The sub-word ids of words [lo, hi) between the specials, and the first and last
    sub-word position of each word of the window [a, b)."""
    (lo, hi), (a, b) = words, window
    lengths = doc.lengths
    ids = list(prefix)
    starts, ends = [], []
    for w in range(lo, hi):
        if doc.left + a <= w < doc.left + b:
            starts.append(len(ids))
            ends.append(len(ids) + lengths[w] - 1)
        ids.extend(doc.pieces[w])
    ids.extend(suffix)
    return ids, starts, ends


def _segment_targets(
    doc: _Source,
    window: tuple[int, int],
    starts: Sequence[int],
    ends: Sequence[int],
    entity_index: dict[str, int],
    relation_index: dict[str, int],
) -> dict[str, list[int]]:
    """The gold spans inside the window, in sub-word positions, and the links between them."""
    a, b = window
    kept = {}
    span_starts, span_ends, span_types = [], [], []
    for i, (s, e, t) in enumerate(doc.entities):
        if a <= s and e <= b:
            kept[i] = len(span_starts)
            span_starts.append(starts[s - a])
            span_ends.append(ends[e - 1 - a])
            span_types.append(entity_index[t])
    heads, tails, rtypes = [], [], []
    for h, t, r in doc.relations:
        if h in kept and t in kept:
            heads.append(kept[h])
            tails.append(kept[t])
            rtypes.append(relation_index[r])
    return {
        "span_starts": span_starts, "span_ends": span_ends, "span_types": span_types,
        "link_heads": heads, "link_tails": tails, "link_types": rtypes,
    }  # fmt: skip


def _encode_batch(
    batch: dict,
    indices: list[int],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    entity_index: dict[str, int],
    relation_index: dict[str, int],
) -> dict:
    """Tokenize a batch of documents, fit each to the encoder, and emit one row per segment."""
    prefix, suffix = special_tokens(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    out: dict[str, list] = {key: [] for key in _COLUMNS}
    for doc in _batch_sources(batch, indices, tokenizer):
        windows, context, trimmed = _layout(doc, budget, max_length)
        lost_entities, lost_relations = _lost_annotations(doc, windows)
        for a, b in windows:
            words = context if context is not None else (doc.left + a, doc.left + b)
            ids, starts, ends = _segment_ids(doc, words, (a, b), prefix, suffix)
            row = {
                "input_ids": ids,
                "start_positions": starts,
                "end_positions": ends,
                "word_offset": a,
                "doc_index": doc.index,
                **_segment_targets(doc, (a, b), starts, ends, entity_index, relation_index),
                "window_count": len(windows),
                # Per-document counts sit on the first window only, so sums count each once.
                "lost_entities": lost_entities if a == 0 else 0,
                "lost_relations": lost_relations if a == 0 else 0,
                "trimmed_context": trimmed,
            }
            for key in _COLUMNS:
                out[key].append(row[key])
    return out


_COLUMNS = (
    "input_ids", "start_positions", "end_positions", "word_offset", "doc_index",
    "span_starts", "span_ends", "span_types", "link_heads", "link_tails", "link_types",
    "window_count", "lost_entities", "lost_relations", "trimmed_context",
)


def _document_rows(documents: Sequence[Document], source: str) -> dict[str, list]:
    rows: dict[str, list] = {
        "tokens": [], "left_context": [], "right_context": [], "source": [],
        "entity_starts": [], "entity_ends": [], "entity_types": [],
        "relation_heads": [], "relation_tails": [], "relation_types": [],
    }
    for doc in documents:
        index = {entity: i for i, entity in enumerate(doc.entities)}
        rows["tokens"].append(list(doc.tokens))
        rows["left_context"].append(list(doc.left_context))
        rows["right_context"].append(list(doc.right_context))
        rows["source"].append(source)
        rows["entity_starts"].append([e.start for e in doc.entities])
        rows["entity_ends"].append([e.end for e in doc.entities])
        rows["entity_types"].append([e.type for e in doc.entities])
        rows["relation_heads"].append([index[r.head] for r in doc.relations])
        rows["relation_tails"].append([index[r.tail] for r in doc.relations])
        rows["relation_types"].append([r.type for r in doc.relations])
    return rows


def fingerprint(
    documents: Sequence[Document],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    entity_types: Sequence[str],
    relation_types: Sequence[str],
) -> str:
    digest = hashlib.sha256()
    digest.update(f"v{ENCODING_VERSION}|{max_length}|{list(entity_types)}|{list(relation_types)}".encode())
    digest.update(type(tokenizer).__name__.encode())
    digest.update(json.dumps(tokenizer.get_vocab(), sort_keys=True).encode())
    digest.update(repr(special_tokens(tokenizer)).encode())
    for doc in documents:
        digest.update(json.dumps([doc.to_json(), doc.left_context, doc.right_context]).encode())
    return digest.hexdigest()[:32]


def encode_documents(
    documents: Sequence[Document],
    tokenizer: PreTrainedTokenizerBase,
    entity_types: Sequence[str],
    relation_types: Sequence[str],
    max_length: int,
    cache_dir: str | Path | None = None,
    source: str = "<documents>",
) -> tuple[datasets.Dataset, EncodingReport]:
    """Encode documents into a ``datasets.Dataset`` of segments (cached when ``cache_dir``)."""
    entity_index = {t: i for i, t in enumerate(entity_types)}
    relation_index = {t: i for i, t in enumerate(relation_types)}
    raw = datasets.Dataset.from_dict(_document_rows(documents, source))
    map_kwargs: dict = {
        "batched": True,
        "with_indices": True,
        "batch_size": 512,
        "remove_columns": raw.column_names,
        "fn_kwargs": {
            "tokenizer": tokenizer,
            "max_length": max_length,
            "entity_index": entity_index,
            "relation_index": relation_index,
        },
        "desc": "Tokenizing",
    }
    if cache_dir is not None:
        key = fingerprint(documents, tokenizer, max_length, entity_types, relation_types)
        cache_path = Path(cache_dir) / f"encoded-{key}.arrow"
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        map_kwargs.update(cache_file_name=str(cache_path), new_fingerprint=key)
    else:
        map_kwargs.update(keep_in_memory=True, new_fingerprint="uncached")
    with _quiet_progress(len(documents)):
        encoded = raw.map(_encode_batch, **map_kwargs)
    report = _report(len(documents), encoded)
    return encoded, report


def _report(documents: int, encoded) -> EncodingReport:
    """What fitting the documents into ``max_length`` took, from the encoded columns."""
    return EncodingReport(
        documents=documents,
        segments=len(encoded["input_ids"]),
        split_documents=sum(1 for w, o in zip(encoded["window_count"], encoded["word_offset"],
                                              strict=True)
                            if w > 1 and o == 0),
        trimmed_context=sum(encoded["trimmed_context"]),
        lost_entities=sum(encoded["lost_entities"]),
        lost_relations=sum(encoded["lost_relations"]),
    )  # fmt: skip


def encode_segments(
    documents: Sequence[Document],
    tokenizer: PreTrainedTokenizerBase,
    entity_types: Sequence[str],
    relation_types: Sequence[str],
    max_length: int,
) -> tuple[list[dict], EncodingReport]:
    """The segments :func:`encode_documents` makes, as plain rows, without a dataset.

    For inference on a few texts: building and mapping a ``datasets.Dataset`` costs
    milliseconds per call, more than tokenizing a sentence, and nothing is cached anyway.
    """
    columns = _encode_batch(
        _document_rows(documents, "<documents>"),
        list(range(len(documents))),
        tokenizer,
        max_length,
        {t: i for i, t in enumerate(entity_types)},
        {t: i for i, t in enumerate(relation_types)},
    )
    rows = [
        dict(zip(columns, values, strict=True))
        for values in zip(*columns.values(), strict=True)
    ]
    return rows, _report(len(documents), columns)


class _quiet_progress:
    """Hide the datasets progress bar for small inputs (inference on a few sentences)."""

    def __init__(self, size: int) -> None:
        self.quiet = size < 2000

    def __enter__(self) -> None:
        self.was_enabled = datasets.is_progress_bar_enabled()
        if self.quiet:
            datasets.disable_progress_bars()

    def __exit__(self, *exc: object) -> None:
        if self.was_enabled:
            datasets.enable_progress_bars()
