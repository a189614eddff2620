"""Raw text in, entities and relations with character offsets out.

Text is split as the training corpora were: into sentences (pySBD's rule-based segmenter,
which knows abbreviations such as ``Dr.`` or ``Inc.``), and each sentence into words the
Penn Treebank way (NLTK's Treebank tokenizer: ``Smith's`` → ``Smith 's``, ``doesn't`` →
``does n't``, abbreviations and initials kept whole) — the tokenisation of CoNLL04, CoNLL03
and ACE05. Each word keeps its character span, so every prediction is grounded in the input
string. Sentences are predicted one by one (the models are trained on sentences; a paragraph
sent as one sequence loses most of its relations), so relations never cross sentences.
Sentences longer than the encoder's limit are split into word-aligned windows by the
encoder pipeline and merged back.

A checkpoint records how its training corpus was split (:class:`TextSplitting`, saved in its
config as ``text_splitting``): the word splitter, the sentence splitter, and the words of
cross-sentence context its sentences were trained with, which raw text then gets from the
neighbouring sentences of the same text.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from iter.data.document import Document
from iter.inference.documents import Autocast, Decoder, predict_scored

Word = tuple[str, int, int]  # the word, its start and end offsets in the text

# How a corpus was split into words: Penn Treebank (CoNLL04, CoNLL03, ACE05 and the other
# corpora here), or at white space (text that comes tokenized already, one space apart).
WORD_SPLITTERS = ("treebank", "whitespace")
# ...and into sentences: pySBD, pySBD with each item of a list a unit of its own (CoNLL04),
# one per line, or none (each text is one sentence).
SENTENCE_SPLITTERS = ("pysbd", "pysbd-lists", "lines", "none")


@dataclass(frozen=True)
class TextSplitting:
    """How raw text is split for a model, as its training corpus was."""

    words: str = "treebank"
    sentences: str = "pysbd"
    context_window: int = 0  # words of the neighbouring sentences on each side

    def __post_init__(self) -> None:
        if self.words not in WORD_SPLITTERS:
            raise ValueError(
                f"text_splitting.words must be one of {', '.join(WORD_SPLITTERS)}; "
                f"got {self.words!r}"
            )
        if self.sentences not in SENTENCE_SPLITTERS:
            raise ValueError(
                f"text_splitting.sentences must be one of {', '.join(SENTENCE_SPLITTERS)}; "
                f"got {self.sentences!r}"
            )
        if isinstance(self.context_window, bool) or not isinstance(self.context_window, int) \
                or self.context_window < 0:  # fmt: skip
            raise ValueError(
                f"text_splitting.context_window must be an integer >= 0; "
                f"got {self.context_window!r}"
            )

    @classmethod
    def of(cls, config: object) -> TextSplitting:
        """The splitting a model's config records (checkpoints saved before it was
        recorded were all trained on Treebank-split sentences without context)."""
        return cls(**(getattr(config, "text_splitting", None) or {}))

    def to_dict(self) -> dict:
        return asdict(self)


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


# What can open a sentence: opening quotes or brackets, then a capital or a digit.
_OPENER = re.compile(r"(?:[\"`'(\[]\s?)*[A-Z0-9]")
_BLANK = re.compile(r"\s+")
# Boundaries the segmenter alone misses, each followed by what can open a sentence:
# - a sentence-final mark standing alone (tokenized text: "... budget . Reagan");
# - a final mark with closing quotes after it, also tokenized ("... plague. ' ' The",
#   "... plague . '' The");
# - a news dateline's agency ("PERUGIA , Italy ( AP ) The ..."), a unit of its own in the
#   newswire corpora.
_STANDALONE_END = re.compile(
    rf"(?:\s[.!?]|[.!?](?:\s?''|\s?\"|”|\s'\s')|\(\s?AP\s?\))(\s+)(?={_OPENER.pattern})"
)
# A sentence-final mark standing alone, then a word in lower case: tokenized text whose next
# unit opens in lower case ("... born in Woodington , Ohio . and former CBS News ..."). Never
# inside a unit of CoNLL04, CoNLL03 or SciERC (about 24,000 units), between two 13 times.
# An ellipsis's marks ("wait . . . and") are not one.
_STANDALONE_END_LOWER = re.compile(r"(?<=[^.!?\s])\s[.!?](\s+)(?=[a-z])")
# An item of a list ended by a semicolon, then a capital: CoNLL04 gives each item a unit of
# its own ("Hot Springs National Park , Ark. ; Aguadilla , Puerto Rico ; Locations ...": 42
# boundaries in its three splits, once inside a unit). CoNLL03 and SciERC keep such lists
# in one unit (54 times inside, 4 between), so only the ``pysbd-lists`` splitter has it.
_LIST_ITEM_END = re.compile(r";(\s+)(?=(?:[\"`(\[]\s?)*[A-Z])")
# A word with its period attached, then what can open a sentence: a boundary unless the word
# is an abbreviation ("Galveston. Pat" but not "Gov. Cecil"); a closing quote after the
# period stays with its sentence (the rule above splits after it). The segmenter finds these in
# short texts but loses many in long ones (a quotation it sees as open hides them).
_ATTACHED_END = re.compile(r"(\S+)\.(\s+)(?=(?:[\"`(\[]\s?)*[A-Z0-9])")
# What cannot open a sentence: a segment starting so continues the previous one
# ("Little Rock, Ark. ; ...", "Acme Corp. , a ...", a closing quote after "plague.").
_CONTINUATION = re.compile(r"[a-z,;:)\]}.%]|'|’|”")
# A monitoring service's source line, a unit of its own in the newswire corpora (the Foreign
# Broadcast Information Service's, in CoNLL04): a document number, the source, its
# language and date, perhaps the page and a handling mark ("LD2103194094 Moscow ITAR-TASS in
# English 1924 GMT 21 Mar 94", "... in German 11 Nov 93 p 22", "... pp 6-8 , 10--FOR OFFICIAL
# USE ONLY"). Often the source follows again as a line of its own ("... 21 Mar 94 Moscow
# ITAR-TASS The ..."), which ends a unit too.
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_SOURCE_LINE = re.compile(
    r"\b(?:[A-Z]{2}\d{10}|\d{2}[A-Z0-9]{2}\d{4}[A-Z])\s+(?P<source>[^\n]{1,80}?)\s+"
    rf"in [A-Z][a-z]+ (?:\d{{4}} GMT )?\d{{1,2}} {_MONTH} \d{{2}}"
    r"(?: [A-Z][a-z]+ Edition)?(?: pp? [A-Z]?\d+(?:\s?-\s?\d+)?(?: , \d+)*)?"
    r"(?:\s?--\s?FOR OFFICIAL USE ONLY)?"
    rf"(\s+)(?={_OPENER.pattern})"
)
# Two or more words in capitals, then a capitalised word: a header line or a source's name
# ("Kiev HOLOS UKRAYINY The power-output ...", "Madras THE HINDU Panama City ACAN"). In CoNLL04's
# 1,441 sentences joined ten at a time, it finds 15 unit boundaries and splits none of the units.
_CAPITALS_LINE = re.compile(r"\b(?:[A-Z][A-Z-]+ )+[A-Z][A-Z-]+(\s+)(?=[A-Z][a-z])")
# An editor's mark that opens a translated text ("( Text ) The situation remains ..."): a unit
# starts with it, unless it closes a parenthetical note ("( Article by ... ) ( Text )"). In
# CoNLL04, 42 of 54 such marks open a unit; the other 12 follow a ")". The mark is kept a
# sentence of its own, as the segmenter leaves it: the trained models find more of the
# relations in the sentence after it without it (3 more correct, 4 more wrong, in the 9 test
# sentences that start with one).
_EDITORIAL_MARK = re.compile(r"\(\s?(?:Text|Excerpts?|Editorial Report)\s?\)")
# A clock time's "a.m."/"p.m." followed by a time zone ("at 2 a.m. EST ranged from ..."): the
# segmenter takes the zone's capital letters for a new sentence.
_CLOCK_END = re.compile(r"\b[ap]\.m\.$", re.IGNORECASE)
_TIME_ZONE = re.compile(
    r"(?:[ECMP][SD]T|GMT|UTC|BST|CET|CEST|EET|HST|AKST|AKDT|AST|ADT|NST|NDT)\b"
)


@functools.cache
def _word_tokenizer():
    from nltk.tokenize import TreebankWordTokenizer

    return TreebankWordTokenizer()


@functools.cache
def _sentence_segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


@functools.cache
def _abbreviations() -> frozenset[str]:
    from pysbd.lang.english import English

    return frozenset(English.Abbreviation.ABBREVIATIONS)


def _is_abbreviation(word: str) -> bool:
    """``Jr``, ``Ark``, ``U.S``, ``F``: words that keep their period in the corpora."""
    return (
        (len(word) == 1 and word.isupper())
        or ("." in word and word.replace(".", "").isalpha())
        or word.lower() in _abbreviations()
    )


def split_words(sentence: str, offset: int = 0, splitter: str = "treebank") -> list[Word]:
    """(word, start, end) for each word of one sentence, Penn-Treebank style (or at white
    space); the offsets are into the sentence, plus ``offset``.

    The Treebank tokenizer splits the sentence-final period off any word; an abbreviation
    keeps it (``... Martin Luther King Jr.``), as the corpora tokenize it.
    """
    if splitter == "whitespace":
        return [(m.group(), offset + m.start(), offset + m.end()) for m in
                re.finditer(r"\S+", sentence)]  # fmt: skip
    words = [(sentence[a:b], offset + a, offset + b) for a, b in
             _word_tokenizer().span_tokenize(sentence)]  # fmt: skip
    if len(words) >= 2 and words[-1][0] == "." and words[-2][2] == words[-1][1]:
        last, start, _ = words[-2]
        if _is_abbreviation(last):
            words[-2:] = [(last + ".", start, words[-1][2])]
    return words


def split_sentences(text: str, splitter: str = "pysbd") -> list[tuple[int, int]]:
    """Character spans (start, end) of the sentences of ``text``, blanks left out."""
    if splitter == "lines":
        return [_stripped(text, m.start(), m.end()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]
    if splitter == "none":
        return [_stripped(text, 0, len(text))] if text.strip() else []
    pieces, start = [], 0
    for gap_start, gap_end in _forced_boundaries(text, lists=splitter == "pysbd-lists"):
        pieces.append((start, gap_start))
        start = gap_end
    pieces.append((start, len(text)))
    spans: list[tuple[int, int]] = []
    for piece_start, piece_end in pieces:
        cursor = piece_start
        for segment in _sentence_segmenter().segment(text[piece_start:piece_end]):
            stripped = segment.strip()
            if not stripped:
                continue
            # The segments are pieces of the text in order: finding each from the end of
            # the previous one gives its offsets even where a sentence occurs twice.
            begin = text.find(stripped, cursor, piece_end)
            if begin < 0:  # not expected; a segmenter that rewrote the text is not trusted
                raise ValueError(f"sentence segmenter changed the text near offset {cursor}")
            cursor = begin + len(stripped)
            if spans and spans[-1][1] > piece_start and _continues(text, spans[-1], stripped):
                spans[-1] = (spans[-1][0], cursor)
            else:
                spans.append((begin, cursor))
    return spans


def _continues(text: str, previous: tuple[int, int], segment: str) -> bool:
    """Whether ``segment`` goes on with the sentence at ``previous`` instead of opening one."""
    if _CONTINUATION.match(segment):
        return True
    return bool(_TIME_ZONE.match(segment) and _CLOCK_END.search(text[previous[0] : previous[1]]))


def _forced_boundaries(text: str, lists: bool = False) -> list[tuple[int, int]]:
    """The blanks between sentences that are certain before the segmenter runs, in order;
    with ``lists``, also those after the items of a list."""
    gaps = {m.span(1) for m in _STANDALONE_END.finditer(text)}
    gaps |= {m.span(1) for m in _STANDALONE_END_LOWER.finditer(text)}
    if lists:
        gaps |= {m.span(1) for m in _LIST_ITEM_END.finditer(text)}
    gaps |= {m.span(2) for m in _ATTACHED_END.finditer(text) if not _is_abbreviation(m.group(1))}
    gaps |= {m.span(1) for m in _CAPITALS_LINE.finditer(text)}
    for mark in _EDITORIAL_MARK.finditer(text):
        gap_start = mark.start()
        while gap_start > 0 and text[gap_start - 1].isspace():
            gap_start -= 1
        if 0 < gap_start < mark.start() and text[gap_start - 1] != ")":
            gaps.add((gap_start, mark.start()))
            gaps.add(_blank_before_opener(text, mark.end()))
    for line in _SOURCE_LINE.finditer(text):
        gaps.add(line.span(2))
        source, after = line.group("source"), line.end(2)
        if text.startswith(source, after):
            gaps.add(_blank_before_opener(text, after + len(source)))
    gaps.discard(None)
    return sorted(gaps)


def _blank_before_opener(text: str, at: int) -> tuple[int, int] | None:
    """The blank at ``at`` when what follows it can open a sentence, else None."""
    blank = _BLANK.match(text, at)
    return blank.span() if blank and _OPENER.match(text, blank.end()) else None


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def text_sentences(
    item: str | Sequence[str],
    by_sentence: bool = True,
    splitting: TextSplitting = TextSplitting(),
) -> tuple[str, list[list[Word]]]:
    """The text and its sentences as word lists with offsets. A list of words is one
    sentence, joined by single spaces; a string is split into sentences (unless
    ``by_sentence`` is false) and words, as ``splitting`` says."""
    if not isinstance(item, str):
        words, position = [], 0
        for word in item:
            words.append((word, position, position + len(word)))
            position += len(word) + 1
        return " ".join(item), [words] if words else []
    spans = split_sentences(item, splitting.sentences if by_sentence else "none")
    sentences = [split_words(item[a:b], a, splitting.words) for a, b in spans]
    return item, [words for words in sentences if words]


def predict_texts(
    model: Decoder,
    texts: Sequence[str | Sequence[str]],
    batch_size: int = 32,
    autocast: Autocast = contextlib.nullcontext,
    progress: Callable | None = None,
    link_threshold: float | None = None,
    by_sentence: bool = True,
) -> list[TextPrediction]:
    """Predictions for plain strings (split into sentences and words, as the model's
    training corpus was) or pre-tokenized word lists (one sentence each, joined by spaces).
    A model trained with cross-sentence context sees that many words of the neighbouring
    sentences of the same text on each side."""
    splitting = TextSplitting.of(model.config)
    prepared = [text_sentences(item, by_sentence, splitting) for item in texts]
    documents = [
        document
        for _, text_words in prepared
        for document in _with_context(text_words, splitting.context_window)
    ]
    scored = iter(
        predict_scored(
            model, documents, batch_size, autocast, progress=progress,
            link_threshold=link_threshold,
        )
    )  # fmt: skip
    results = []
    for text, text_words in prepared:
        entities: list[TextEntity] = []
        relations: list[TextRelation] = []
        for words in text_words:
            _add_sentence(text, words, next(scored), entities, relations)
        results.append(TextPrediction(text, tuple(entities), tuple(relations)))
    return results


def _with_context(sentences: list[list[Word]], window: int) -> list[Document]:
    """One document per sentence of a text, with up to ``window`` words of the sentences
    before and after it (never scored), as the training corpus gave them."""
    tokens = [tuple(word for word, _, _ in words) for words in sentences]
    documents = []
    for k, words in enumerate(tokens):
        left = [w for sentence in tokens[:k] for w in sentence][-window:] if window else []
        right = [w for sentence in tokens[k + 1 :] for w in sentence][:window]
        documents.append(Document(words, left_context=tuple(left), right_context=tuple(right)))
    return documents


def _add_sentence(
    text: str,
    words: list[Word],
    annotations,
    entities: list[TextEntity],
    relations: list[TextRelation],
) -> None:
    """One sentence's word-level predictions as character-level entities and relations of
    the whole text (entity indices continue the text's list)."""
    ordered = sorted(annotations.entities.items(), key=lambda item: item[0])
    position = {entity: len(entities) + k for k, (entity, _) in enumerate(ordered)}
    for entity, score in ordered:
        start, end = words[entity.start][1], words[entity.end - 1][2]
        entities.append(TextEntity(entity.type, start, end, text[start:end], round(score, 4)))
    for relation, probability in sorted(annotations.relations.items(), key=lambda item: item[0]):
        relations.append(
            TextRelation(
                position[relation.head], position[relation.tail], relation.type,
                round(probability, 4),
            )
        )  # fmt: skip
