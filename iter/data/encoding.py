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


def _encode_batch(
    batch: dict,
    indices: list[int],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    entity_index: dict[str, int],
    relation_index: dict[str, int],
) -> dict:
    prefix, suffix = special_tokens(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    out: dict[str, list] = {key: [] for key in _COLUMNS}
    all_words = [
        [*left, *words, *right]
        for left, words, right in zip(
            batch["left_context"], batch["tokens"], batch["right_context"], strict=True
        )
    ]
    pieces_batch = _word_pieces(tokenizer, all_words)
    for row, doc_index in enumerate(indices):
        left = len(batch["left_context"][row])
        n_words = len(batch["tokens"][row])
        pieces = pieces_batch[row]
        lengths = [len(p) for p in pieces]
        entities = list(
            zip(batch["entity_starts"][row], batch["entity_ends"][row], batch["entity_types"][row])
        )
        relations = list(
            zip(batch["relation_heads"][row], batch["relation_tails"][row],
                batch["relation_types"][row])
        )
        sentence_lengths = lengths[left : left + n_words]
        trimmed = 0
        if sum(sentence_lengths) <= budget:
            # Keep as much context as fits, trimming the words farthest from the sentence.
            lo, hi = 0, len(lengths)
            while sum(lengths[lo:hi]) > budget:
                trimmed = 1
                if left - lo >= hi - (left + n_words) and lo < left:
                    lo += 1
                else:
                    hi -= 1
            windows = [(0, n_words)]
            context = (lo, hi)
        else:
            for w, size in enumerate(sentence_lengths):
                if size > budget:
                    raise DatasetFormatError(
                        batch["source"][row],
                        f"word {w} ({batch['tokens'][row][w][:40]!r}...) alone is {size} sub-words, "
                        f"more than the encoder's limit of {max_length}",
                        document=doc_index,
                        field=f"tokens[{w}]",
                    )
            windows = _windows(sentence_lengths, budget, [(s, e) for s, e, _ in entities])
            context = None
        def within(a: int, b: int, entity: tuple[int, int, str]) -> bool:
            return a <= entity[0] and entity[1] <= b

        lost_entities = sum(1 for e in entities if not any(within(a, b, e) for a, b in windows))
        lost_relations = sum(
            1
            for h, t, _ in relations
            if not any(within(a, b, entities[h]) and within(a, b, entities[t]) for a, b in windows)
        )
        for a, b in windows:
            lo, hi = context if context is not None else (left + a, left + b)
            ids = list(prefix)
            starts, ends = [], []
            for w in range(lo, hi):
                if left + a <= w < left + b:
                    starts.append(len(ids))
                    ends.append(len(ids) + lengths[w] - 1)
                ids.extend(pieces[w])
            ids.extend(suffix)
            kept = {}
            span_starts, span_ends, span_types = [], [], []
            for i, (s, e, t) in enumerate(entities):
                if a <= s and e <= b:
                    kept[i] = len(span_starts)
                    span_starts.append(starts[s - a])
                    span_ends.append(ends[e - 1 - a])
                    span_types.append(entity_index[t])
            heads, tails, rtypes = [], [], []
            for h, t, r in relations:
                if h in kept and t in kept:
                    heads.append(kept[h])
                    tails.append(kept[t])
                    rtypes.append(relation_index[r])
            out["input_ids"].append(ids)
            out["start_positions"].append(starts)
            out["end_positions"].append(ends)
            out["word_offset"].append(a)
            out["doc_index"].append(doc_index)
            out["span_starts"].append(span_starts)
            out["span_ends"].append(span_ends)
            out["span_types"].append(span_types)
            out["link_heads"].append(heads)
            out["link_tails"].append(tails)
            out["link_types"].append(rtypes)
            out["window_count"].append(len(windows))
            # Per-document counts sit on the first window only, so sums count each once.
            out["lost_entities"].append(lost_entities if a == 0 else 0)
            out["lost_relations"].append(lost_relations if a == 0 else 0)
            out["trimmed_context"].append(trimmed)
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
        split_documents=sum(1 for w, o in zip(encoded["window_count"], encoded["word_offset"])
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
    rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
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
