"""Raw text in, grounded offsets out; windows for long texts; the ``iter predict`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from iter.data.document import Entity, Relation
from iter.errors import ConfigError
from iter.inference import text as text_module
from iter.inference.documents import ScoredAnnotations
from iter.inference.text import (
    TextSplitting,
    predict_texts,
    split_sentences,
    split_words,
    text_sentences,
)
from tests.conftest import REPO, minilm_path, tiny_model


def test_split_words_like_the_treebank_corpora():
    # CoNLL04's own tokens for these: 's split off, abbreviations and initials whole.
    text = (
        'Dr. Smith\'s company, Acme Inc., hired F. Kennedy -- "the best" -- in the U.S. on Nov. 3'
    )
    words = split_words(text, offset=7)
    assert [w for w, _, _ in words] == [
        "Dr.", "Smith", "'s", "company", ",", "Acme", "Inc.", ",", "hired", "F.", "Kennedy",
        "--", '"', "the", "best", '"', "--", "in", "the", "U.S.", "on", "Nov.", "3",
    ]  # fmt: skip
    for word, start, end in words:
        assert text[start - 7 : end - 7] == word


def test_split_sentences_keeps_offsets_and_abbreviations():
    text = "Sen. Bob Dole agreed.  He said he doesn't know!\nDr. Who? Dr. Who?"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "Sen. Bob Dole agreed.",
        "He said he doesn't know!",
        "Dr. Who?",
        "Dr. Who?",
    ]
    assert spans[2] != spans[3]  # a repeated sentence gets its own offsets
    _, sentences = text_sentences(text)
    assert [w for w, _, _ in sentences[1]] == ["He", "said", "he", "does", "n't", "know", "!"]
    assert text_sentences(text, by_sentence=False)[1][0][-1][0] == "?"
    assert len(text_sentences(text, by_sentence=False)[1]) == 1


def test_split_sentences_finds_the_boundaries_a_long_text_hides_from_the_segmenter():
    # An open quotation early on makes the segmenter miss the later boundaries; a word with
    # its period attached before a capital is one unless it is an abbreviation; a closing
    # quote stays with its sentence; a dateline's agency ends a unit.
    text = (
        "` ` The old bugaboo is where it goes , said a meteorologist in Galveston. "
        "Pat Epps met Gov. Cecil Andrus in Boise. ` ` It was one-sided. ' ' "
        "Hatcher also left. PERUGIA , Italy ( AP ) The Pope arrived."
    )
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "` ` The old bugaboo is where it goes , said a meteorologist in Galveston.",
        "Pat Epps met Gov. Cecil Andrus in Boise.",
        "` ` It was one-sided. ' '",
        "Hatcher also left.",
        "PERUGIA , Italy ( AP )",
        "The Pope arrived.",
    ]


def test_a_clock_time_and_its_zone_stay_in_one_sentence():
    # The segmenter alone splits "2 a.m. | EST ranged ..." (CoNLL04's weather reports).
    text = (
        "Temperatures at 2 a.m. EST ranged from 9 at Alamosa , Colo. , to 75 at Miami . "
        "It ended at 5 p.m. Smith left. Rain fell until 6 p.m. GMT. Then it cleared."
    )
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Temperatures at 2 a.m. EST ranged from 9 at Alamosa , Colo. , to 75 at Miami .",
        "It ended at 5 p.m.",
        "Smith left.",
        "Rain fell until 6 p.m. GMT.",
        "Then it cleared.",
    ]


def test_news_service_headers_end_their_units():
    # A monitoring service's source line (document number, source, language, date, page,
    # handling mark), the source repeated as a line of its own, a header in capitals, and an
    # editor's "( Text )" mark: each a unit of its own in CoNLL04's translated news.
    text = (
        "Arms Sales Rise LD2103194094 Moscow ITAR-TASS in English 1924 GMT 21 Mar 94 "
        "Moscow ITAR-TASS The talks ended in Moscow , officials said . "
        "94AA0008Z Jerusalem THE JERUSALEM POST in English 15 Oct 93 pp 6-8 , 10--FOR OFFICIAL "
        "USE ONLY Madras THE HINDU Gerald Steinberg spoke ( Text ) Beijing , 23 Jun ( XINHUA ) "
        "-- Deng Nan left . ( Article by S. Gusak ) ( Text ) It ended ."
    )
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Arms Sales Rise LD2103194094 Moscow ITAR-TASS in English 1924 GMT 21 Mar 94",
        "Moscow ITAR-TASS",
        "The talks ended in Moscow , officials said .",
        "94AA0008Z Jerusalem THE JERUSALEM POST in English 15 Oct 93 pp 6-8 , 10--FOR OFFICIAL "
        "USE ONLY",
        "Madras THE HINDU",
        "Gerald Steinberg spoke",
        "( Text )",
        "Beijing , 23 Jun ( XINHUA ) -- Deng Nan left .",
        "( Article by S. Gusak ) ( Text ) It ended .",
    ]
    # Not headers: one word in capitals before a capitalised one, a date with no document
    # number before it.
    plain = "The NATO Secretary met IBM Chairman Lou Gerstner in Paris 21 Mar 94 Friday ."
    assert [plain[a:b] for a, b in split_sentences(plain)] == [plain]


def test_a_unit_opening_in_lower_case_and_the_items_of_a_list():
    # A sentence-final mark standing alone before a lower-case word ends a unit under every
    # splitter (an ellipsis does not); a list's items end at their semicolons only with
    # pysbd-lists (CoNLL04 splits them, CoNLL03 and SciERC keep a list in one unit).
    text = (
        "Thomas was born in Woodington , Ohio . and former CBS News commentator Eric Sevareid "
        "left . . . and came back . Sites : Hot Springs National Park , Ark. ; Aguadilla , "
        "Puerto Rico; Fort Wainwright annex , Alaska ; and Fresno ."
    )
    common = [
        "Thomas was born in Woodington , Ohio .",
        "and former CBS News commentator Eric Sevareid left . . . and came back .",
    ]
    assert [text[a:b] for a, b in split_sentences(text)] == [
        *common,
        "Sites : Hot Springs National Park , Ark. ; Aguadilla , Puerto Rico; Fort Wainwright "
        "annex , Alaska ; and Fresno .",
    ]
    assert [text[a:b] for a, b in split_sentences(text, "pysbd-lists")] == [
        *common,
        "Sites : Hot Springs National Park , Ark. ;",
        "Aguadilla , Puerto Rico;",
        "Fort Wainwright annex , Alaska ; and Fresno .",
    ]


def test_predictions_are_grounded_in_the_input_string(monkeypatch, minilm_tokenizer):
    """Word-level predictions map to exact character offsets of the original text."""
    text = "  Mary Smith  works for\tAcme Corp. in Zürich ."

    def fake_predict(model, documents, batch_size, autocast, progress=None, **options):
        (doc,) = documents
        mary, acme, zurich = Entity(0, 2, "Peop"), Entity(4, 6, "Org"), Entity(7, 8, "Loc")
        assert doc.tokens[:2] == ("Mary", "Smith")
        scored = ScoredAnnotations(
            {mary: 0.9, acme: 0.8, zurich: 0.7}, {Relation(mary, acme, "Work_For"): 0.6}
        )
        return [scored]

    monkeypatch.setattr(text_module, "predict_scored", fake_predict)
    (prediction,) = predict_texts(tiny_model(minilm_tokenizer), [text, "   "][:1])
    assert [(e.text, e.type) for e in prediction.entities] == [
        ("Mary Smith", "Peop"),
        ("Acme Corp.", "Org"),
        ("Zürich", "Loc"),
    ]
    for entity in prediction.entities:
        assert text[entity.start : entity.end] == entity.text
    (relation,) = prediction.relations
    assert (relation.head, relation.tail, relation.type) == (0, 1, "Work_For")
    assert prediction.to_dict()["relations"][0]["tail_text"] == "Acme Corp."


def test_predict_on_texts_words_empty_and_long_inputs(minilm_tokenizer, caplog):
    model = tiny_model(minilm_tokenizer)  # max_sequence_length 128
    long_text = " ".join(f"word{i}" for i in range(400))
    results = model.predict(
        ["Mary works for Acme .", ["Mary", "works"], "", long_text], batch_size=2
    )
    assert len(results) == 4
    assert results[2].entities == () and results[2].relations == ()
    assert results[1].text == "Mary works"
    for result in results:
        for entity in result.entities:
            assert result.text[entity.start : entity.end] == entity.text
            assert 0.0 < entity.score <= 1.0
    assert "split into word-aligned windows" in caplog.text  # the long text, not cut silently
    assert max(e.end for e in results[3].entities) > 1500  # predictions reach past window 1


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, minilm_tokenizer):
    folder = tmp_path_factory.mktemp("ckpt")
    tiny_model(minilm_tokenizer).save_pretrained(folder)
    return folder


def test_iter_predict_command_writes_jsonl(checkpoint, tmp_path):
    source = tmp_path / "input.jsonl"
    source.write_text(
        '{"text": "Mary works for Acme ."}\n\n"Boston is big ."\n'
        '{"tokens": ["John", "lives", "here"]}\n'
    )
    output = tmp_path / "out.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "iter.cli.main",
            "predict",
            "--model",
            str(checkpoint),
            str(source),
            "-o",
            str(output),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["text"] for line in lines] == [
        "Mary works for Acme .",
        "Boston is big .",
        "John lives here",
    ]
    assert all({"entities", "relations"} <= set(line) for line in lines)
    assert "3 predictions written" in result.stderr


def test_text_input_keeps_blank_lines_aligned(tmp_path):
    from iter.cli.main import read_inputs

    source = tmp_path / "input.txt"
    source.write_text("first text\n\nthird text\n")
    assert read_inputs(source) == ["first text", "", "third text"]


def test_iter_predict_reads_standard_input(checkpoint):
    result = subprocess.run(
        [sys.executable, "-m", "iter.cli.main", "predict", "--model", str(checkpoint), "-"],
        cwd=REPO, input="Mary works for Acme .\n\nBoston is big .\n",
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["Mary works for Acme .", "", "Boston is big ."]


def test_input_form_is_chosen_by_suffix_or_flag(tmp_path, monkeypatch):
    import io

    from iter.cli.main import InputError, read_inputs

    monkeypatch.setattr(sys, "stdin", io.StringIO('{"text": "a b"}\n{"tokens": ["c", "d"]}\n'))
    assert read_inputs(Path("-"), jsonl=True) == ["a b", ["c", "d"]]
    monkeypatch.setattr(sys, "stdin", io.StringIO("not json\n"))
    with pytest.raises(InputError, match=r"^<stdin>, line 1: not valid JSON"):
        read_inputs(Path("-"), jsonl=True)
    source = tmp_path / "texts.jsonl"
    source.write_text('{"text": "x"}\n')
    assert read_inputs(source) == ["x"]
    assert read_inputs(source, jsonl=False) == ['{"text": "x"}']


# ----------------------------------------------------------------------------- splitting recorded
def test_other_splitters_keep_offsets():
    text = "Acme Corp.'s  chief\nlives in  Zürich .\n\n  Mary left ."
    words = split_words("Acme Corp.'s  chief", offset=3, splitter="whitespace")
    assert words == [("Acme", 3, 7), ("Corp.'s", 8, 15), ("chief", 17, 22)]
    lines = split_sentences(text, "lines")
    assert [text[a:b] for a, b in lines] == [
        "Acme Corp.'s  chief",
        "lives in  Zürich .",
        "Mary left .",
    ]
    assert [text[a:b] for a, b in split_sentences(text, "none")] == [text.strip()]
    assert split_sentences("  \n ", "none") == [] == split_sentences("  \n ", "lines")


def test_a_checkpoint_records_how_its_corpus_was_split(minilm_tokenizer, tmp_path):
    from iter.modeling.model import ITERForRelationExtraction

    recorded = {"words": "whitespace", "sentences": "lines", "context_window": 3}
    tiny_model(minilm_tokenizer, text_splitting=recorded).save_pretrained(tmp_path)
    loaded = ITERForRelationExtraction.from_pretrained(tmp_path)
    assert TextSplitting.of(loaded.config) == TextSplitting(**recorded)
    # Models saved before the splitting was recorded were trained on Treebank sentences.
    assert TextSplitting.of(object()) == TextSplitting("treebank", "pysbd", 0)
    with pytest.raises(ConfigError, match=r"text_splitting\.words must be one of treebank"):
        tiny_model(minilm_tokenizer, text_splitting={"words": "spacy"})


def test_predict_splits_as_recorded_and_gives_the_context_window(minilm_tokenizer, monkeypatch):
    seen = []

    def fake_predict(model, documents, *args, **kwargs):
        seen.extend(documents)
        return [ScoredAnnotations({}, {}) for _ in documents]

    monkeypatch.setattr(text_module, "predict_scored", fake_predict)
    splitting = {"words": "whitespace", "sentences": "lines", "context_window": 3}
    model = tiny_model(minilm_tokenizer, text_splitting=splitting)
    predict_texts(model, ["Mary's boss left.\nShe works for Acme Inc. now\nBye", "Alone here"])
    assert [d.tokens for d in seen] == [
        ("Mary's", "boss", "left."),
        ("She", "works", "for", "Acme", "Inc.", "now"),
        ("Bye",),
        ("Alone", "here"),
    ]
    # Up to 3 words of the neighbouring sentences of the same text, never of another text.
    assert [(d.left_context, d.right_context) for d in seen] == [
        ((), ("She", "works", "for")),
        (("Mary's", "boss", "left."), ("Bye",)),
        (("Acme", "Inc.", "now"), ()),
        ((), ()),
    ]


def test_training_records_the_datasets_splitting():
    from iter.data.registry import DatasetSpec, compose_config
    from iter.training.run import build_model

    cfg = compose_config(["dataset=conll03", f"model.transformer={minilm_path()}"])
    model = build_model(cfg, DatasetSpec.from_config(cfg.dataset))
    assert TextSplitting.of(model.config) == TextSplitting("treebank", "pysbd", 64)
    cfg = compose_config(["dataset=conll04", f"model.transformer={minilm_path()}"])
    model = build_model(cfg, DatasetSpec.from_config(cfg.dataset))
    assert TextSplitting.of(model.config) == TextSplitting("treebank", "pysbd-lists", 0)
