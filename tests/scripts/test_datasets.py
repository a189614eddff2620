"""Tests for the dataset scripts: the three converters and ``fetch.py``.

Each converter runs on a small hand-written sample in its source format; ``fetch.py`` runs on a
hand-made mirror folder, both in-process (fast) and as a subprocess (exit codes, no tracebacks).
One test converts the real CoNLL-2003 and GENIA files when ``../shared/datasets`` exists.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# ``scripts`` is not an installed package: make the repository root importable for it.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from iter.data.reader import read_documents  # noqa: E402
from iter.data.registry import dataset_names, load_dataset_spec  # noqa: E402
from iter.errors import DatasetFormatError  # noqa: E402
from scripts.datasets import fetch  # noqa: E402
from scripts.datasets.common import SourceFormatError, run_cli  # noqa: E402
from scripts.datasets.convert_ace05 import convert_ace05  # noqa: E402
from scripts.datasets.convert_conll03 import (  # noqa: E402
    convert_conll03,
    count_documents,
    decode_iob,
)
from scripts.datasets.convert_genia import convert_genia  # noqa: E402

SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
FETCH_SCRIPT = REPO_ROOT / "scripts" / "datasets" / "fetch.py"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _entities(doc: dict) -> list[tuple[str, int, int]]:
    return [(e["type"], e["start"], e["end"]) for e in doc["entities"]]


# --- CoNLL-2003 -------------------------------------------------------------------------------

# The layout of the shared copy: IOB1 tags, each -DOCSTART- line after its document.
CONLL_IOB1_DOCSTART_AFTER = """\
EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

Rome NNP I-NP I-LOC
Paris NNP I-NP B-LOC
and CC O O
New NNP I-NP I-LOC
York NNP I-NP I-LOC
Times NNP I-NP I-ORG
. . O O

-DOCSTART- -X- O O
"""

# The more common layout: IOB2 tags, -DOCSTART- before each document, no blank line after it
# in the second document, and no trailing blank line at the end of the file.
CONLL_IOB2_DOCSTART_BEFORE = """\
-DOCSTART- -X- -X- O

John NNP B-NP B-PER
Smith NNP I-NP I-PER
visited VBD B-VP O
Berlin NNP B-NP B-LOC
. . O O

Yes UH B-INTJ O

-DOCSTART- -X- -X- O
Acme NNP B-NP B-ORG
Corp NNP I-NP I-ORG
Acme NNP B-NP B-ORG
rose VBD B-VP O"""


def test_conll03_iob1_docstart_after(tmp_path: Path) -> None:
    source = _write(tmp_path / "eng.train", CONLL_IOB1_DOCSTART_AFTER)
    docs = convert_conll03(source)
    assert docs == [
        {
            "tokens": ["EU", "rejects", "German", "call"],
            "entities": [
                {"type": "ORG", "start": 0, "end": 1},
                {"type": "MISC", "start": 2, "end": 3},
            ],
            "relations": [],
            "doc_key": "train-0",
            "sentence_index": 0,
        },
        {
            "tokens": ["Peter", "Blackburn"],
            "entities": [{"type": "PER", "start": 0, "end": 2}],
            "relations": [],
            "doc_key": "train-0",
            "sentence_index": 1,
        },
        {
            "tokens": ["Rome", "Paris", "and", "New", "York", "Times", "."],
            # B-LOC splits two adjacent LOCs; I-ORG after I-LOC starts an ORG.
            "entities": [
                {"type": "LOC", "start": 0, "end": 1},
                {"type": "LOC", "start": 1, "end": 2},
                {"type": "LOC", "start": 3, "end": 5},
                {"type": "ORG", "start": 5, "end": 6},
            ],
            "relations": [],
            "doc_key": "train-1",
            "sentence_index": 0,
        },
    ]
    assert count_documents(docs) == 2
    # The output is valid common format, and the reader keeps the document key.
    read = read_documents(_write(tmp_path / "out.json", json.dumps(docs)), allow_overlap=False)
    assert [d.doc_key for d in read] == ["train-0", "train-0", "train-1"]


def test_conll03_iob2_docstart_before(tmp_path: Path) -> None:
    source = _write(tmp_path / "eng.testa", CONLL_IOB2_DOCSTART_BEFORE)
    docs = convert_conll03(source)
    assert [(d["doc_key"], d["sentence_index"], d["tokens"]) for d in docs] == [
        ("dev-0", 0, ["John", "Smith", "visited", "Berlin", "."]),
        ("dev-0", 1, ["Yes"]),
        ("dev-1", 0, ["Acme", "Corp", "Acme", "rose"]),
    ]
    assert [_entities(d) for d in docs] == [
        [("PER", 0, 2), ("LOC", 3, 4)],
        [],
        [("ORG", 0, 2), ("ORG", 2, 3)],
    ]
    # An explicit prefix replaces the split name taken from the file name.
    assert convert_conll03(source, key_prefix="x")[2]["doc_key"] == "x-1"


def test_conll03_two_columns_and_unknown_file_name(tmp_path: Path) -> None:
    source = _write(tmp_path / "extra.txt", "Mary B-PER\nran O\n\nOslo B-LOC\n")
    docs = convert_conll03(source)
    assert [(d["doc_key"], _entities(d)) for d in docs] == [
        ("extra.txt-0", [("PER", 0, 1)]),
        ("extra.txt-0", [("LOC", 0, 1)]),
    ]


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        (["I-PER", "I-PER", "O", "I-LOC"], [(0, 2, "PER"), (3, 4, "LOC")]),
        (["B-PER", "I-PER", "B-PER"], [(0, 2, "PER"), (2, 3, "PER")]),
        (["I-PER", "B-PER", "I-PER"], [(0, 1, "PER"), (1, 3, "PER")]),
        # Lenient IOB2: an I- tag after O or after another type still opens an entity.
        (["O", "I-ORG", "I-LOC"], [(1, 2, "ORG"), (2, 3, "LOC")]),
        (["B-ORG", "I-LOC"], [(0, 1, "ORG"), (1, 2, "LOC")]),
        (["O", "O"], []),
        ([], []),
    ],
)
def test_decode_iob(tags: list[str], spans: list[tuple[int, int, str]]) -> None:
    assert decode_iob(tags) == spans


def test_conll03_bad_tag_names_file_line_and_field(tmp_path: Path) -> None:
    source = _write(tmp_path / "eng.train", "EU NNP I-NP I-ORG\nrejects VBZ I-VP X-PER\n")
    with pytest.raises(SourceFormatError) as info:
        convert_conll03(source)
    message = str(info.value)
    assert str(source) in message
    assert "line 2" in message
    assert "field 'tag'" in message
    assert "X-PER" in message


def test_conll03_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="file not found"):
        convert_conll03(tmp_path / "eng.nope")


# --- GENIA ------------------------------------------------------------------------------------

GENIA_SAMPLE = [
    {
        "sentence": ["IL-2", "gene", "expression", "in", "T", "cells"],
        "ner": [
            {"index": [0, 1], "type": "DNA"},
            {"index": [0], "type": "protein"},
            {"index": [4, 5], "type": "cell_type"},
        ],
    },
    {"sentence": ["No", "mentions", "."], "ner": []},
]


def test_genia_nested_spans(tmp_path: Path) -> None:
    source = _write(tmp_path / "dev.json", json.dumps(GENIA_SAMPLE))
    docs = convert_genia(source)
    assert docs == [
        {
            "tokens": ["IL-2", "gene", "expression", "in", "T", "cells"],
            "entities": [
                {"type": "DNA", "start": 0, "end": 2},
                {"type": "protein", "start": 0, "end": 1},
                {"type": "cell_type", "start": 4, "end": 6},
            ],
            "relations": [],
        },
        {"tokens": ["No", "mentions", "."], "entities": [], "relations": []},
    ]
    read = read_documents(_write(tmp_path / "out.json", json.dumps(docs)))
    assert read[0].entities[0].overlaps(read[0].entities[1])


@pytest.mark.parametrize(
    ("index", "reason"),
    [
        ([0, 2], "not consecutive"),
        ([2, 3], "out of range for 3 tokens"),
        ([], "non-empty list"),
    ],
)
def test_genia_bad_index_names_file_document_and_field(
    tmp_path: Path, index: list[int], reason: str
) -> None:
    data = [
        GENIA_SAMPLE[0],
        {"sentence": ["a", "b", "c"], "ner": [{"index": index, "type": "DNA"}]},
    ]
    source = _write(tmp_path / "train.json", json.dumps(data))
    with pytest.raises(SourceFormatError) as info:
        convert_genia(source)
    message = str(info.value)
    assert str(source) in message
    assert "document 1" in message
    assert "field 'ner[0].index'" in message
    assert reason in message


def test_genia_not_json(tmp_path: Path) -> None:
    source = _write(tmp_path / "train.json", "[{")
    with pytest.raises(SourceFormatError, match="not valid JSON"):
        convert_genia(source)


# --- ACE05 ------------------------------------------------------------------------------------

ACE05_SAMPLE = [
    {
        "doc_key": "CNN_ENG_1",
        "sentences": [["John", "lives", "in", "Paris", "."], ["He", "works", "for", "Acme", "."]],
        # Document-level offsets, inclusive ends: "Acme" is token 8 of the document.
        "ner": [[[0, 0, "PER"], [3, 3, "GPE"]], [[5, 5, "PER"], [8, 8, "ORG"]]],
        "relations": [[[0, 0, 3, 3, "PHYS"]], [[5, 5, 8, 8, "ORG-AFF"]]],
        "clusters": [],
    },
    {
        "doc_key": "AFP_ENG_2",
        "sentences": [["The", "New", "York", "office"]],
        "ner": [[[1, 2, "GPE"], [0, 3, "FAC"]]],
        "relations": [[[0, 3, 1, 2, "PART-WHOLE"]]],
    },
]


def _jsonl(documents: list[dict]) -> str:
    return "".join(json.dumps(doc) + "\n" for doc in documents)


def test_ace05_sentence_local_offsets_and_relations(tmp_path: Path) -> None:
    source = _write(tmp_path / "train.json", _jsonl(ACE05_SAMPLE))
    docs = convert_ace05(source)
    assert docs == [
        {
            "tokens": ["John", "lives", "in", "Paris", "."],
            "entities": [
                {"type": "PER", "start": 0, "end": 1},
                {"type": "GPE", "start": 3, "end": 4},
            ],
            "relations": [{"type": "PHYS", "head": 0, "tail": 1}],
            "doc_key": "CNN_ENG_1",
            "sentence_index": 0,
        },
        {
            "tokens": ["He", "works", "for", "Acme", "."],
            "entities": [
                {"type": "PER", "start": 0, "end": 1},
                {"type": "ORG", "start": 3, "end": 4},
            ],
            "relations": [{"type": "ORG-AFF", "head": 0, "tail": 1}],
            "doc_key": "CNN_ENG_1",
            "sentence_index": 1,
        },
        {
            "tokens": ["The", "New", "York", "office"],
            "entities": [
                {"type": "GPE", "start": 1, "end": 3},
                {"type": "FAC", "start": 0, "end": 4},
            ],
            "relations": [{"type": "PART-WHOLE", "head": 1, "tail": 0}],
            "doc_key": "AFP_ENG_2",
            "sentence_index": 0,
        },
    ]
    read_documents(_write(tmp_path / "out.json", json.dumps(docs)))


def test_ace05_relation_on_non_entity_names_file_line_and_field(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(ACE05_SAMPLE))
    # The tail points at "works", which is no entity of the second sentence.
    bad[0]["relations"][1].append([5, 5, 6, 6, "PHYS"])
    source = _write(tmp_path / "dev.json", "\n" + _jsonl(bad))
    with pytest.raises(SourceFormatError) as info:
        convert_ace05(source)
    message = str(info.value)
    assert str(source) in message
    assert "line 2" in message  # the leading blank line still counts
    assert "document CNN_ENG_1" in message
    assert "field 'relations[1][1]'" in message
    assert "tail span [6, 6]" in message


def test_ace05_entity_outside_its_sentence(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(ACE05_SAMPLE[:1]))
    bad[0]["ner"][0].append([5, 5, "PER"])  # token 5 belongs to the second sentence
    source = _write(tmp_path / "test.json", _jsonl(bad))
    with pytest.raises(SourceFormatError, match=r"line 1.*field 'ner\[0\]\[2\]'.*not inside"):
        convert_ace05(source)


# --- fetch.py ---------------------------------------------------------------------------------


def _conll04_doc(i: int) -> dict:
    return {
        "tokens": ["Ann", "works", "for", f"Org{i}", "."],
        "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Org", "start": 3, "end": 4}],
        "relations": [{"type": "Work_For", "head": 0, "tail": 1}],
        "orig_id": i,
    }


def _make_mirror(root: Path) -> Path:
    """A small mirror laid out like ../shared/datasets (conll04, conll03 and genia only)."""
    mirror = root / "mirror"
    for split, n in (("train", 3), ("dev", 1), ("test", 2)):
        _write(
            mirror / "conll04" / f"{split}.json", json.dumps([_conll04_doc(i) for i in range(n)])
        )
        _write(mirror / "genia" / f"{split}.json", json.dumps(GENIA_SAMPLE))
    _write(mirror / "genia" / "GENIA_LICENSE.txt", "CC BY 3.0\n")
    _write(mirror / "conll03" / "eng.train", CONLL_IOB1_DOCSTART_AFTER)
    _write(mirror / "conll03" / "eng.testa", CONLL_IOB2_DOCSTART_BEFORE)
    _write(mirror / "conll03" / "eng.testb", "Oslo NNP I-NP I-LOC\n\n-DOCSTART- -X- O O\n")
    return mirror


def _run_fetch(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FETCH_SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _fetch_in_process(*args: str | Path) -> int:
    """Run fetch.py's CLI in-process, returning its exit code (much faster than a subprocess)."""
    with pytest.raises(SystemExit) as info:
        run_cli(lambda: fetch.main([str(a) for a in args]))
    return int(info.value.code)


def test_fetch_from_mirror_subprocess(tmp_path: Path) -> None:
    mirror, dest = _make_mirror(tmp_path), tmp_path / "data"
    result = _run_fetch("--mirror", mirror, "--dest", dest)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Every dataset present in the mirror, in the fixed order; scierc and ade are absent.
    assert [line.split(":")[0] for line in lines] == ["conll04", "conll03", "genia"]
    assert lines[0].startswith("conll04: 6 documents, 12 entities, 6 relations")
    assert "(train 3, dev 1, test 2)" in lines[0]
    assert lines[1].startswith("conll03: 7 documents, 12 entities, 0 relations")
    assert "(train 3, dev 3, test 1)" in lines[1]
    assert lines[2].startswith("genia: 6 documents, 9 entities, 0 relations")

    # Common-format files are copied byte for byte (extra keys kept).
    for split in ("train", "dev", "test"):
        copied = dest / "conll04" / f"{split}.json"
        assert copied.read_bytes() == (mirror / "conll04" / f"{split}.json").read_bytes()
    conll03 = json.loads((dest / "conll03" / "dev.json").read_text())
    assert conll03 == convert_conll03(mirror / "conll03" / "eng.testa", key_prefix="dev")
    assert [d["doc_key"] for d in json.loads((dest / "conll03" / "test.json").read_text())] == [
        "test-0"
    ]
    assert json.loads((dest / "genia" / "train.json").read_text()) == convert_genia(
        mirror / "genia" / "train.json"
    )
    assert (dest / "genia" / "GENIA_LICENSE.txt").read_text() == "CC BY 3.0\n"
    # No temporary files are left behind.
    assert not [p for p in dest.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_fetch_skips_present_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mirror, dest = _make_mirror(tmp_path), tmp_path / "data"
    assert _fetch_in_process("conll04", "--mirror", mirror, "--dest", dest) == 0
    target = dest / "conll04" / "train.json"
    target.write_text("[]")
    capsys.readouterr()

    assert _fetch_in_process("conll04", "--mirror", mirror, "--dest", dest) == 0
    assert "skipped" in capsys.readouterr().out
    assert target.read_text() == "[]"

    assert _fetch_in_process("conll04", "--mirror", mirror, "--dest", dest, "--force") == 0
    assert "conll04: 6 documents" in capsys.readouterr().out
    assert len(json.loads(target.read_text())) == 3

    # A partly fetched dataset (one file missing) is fetched again without --force.
    target.unlink()
    assert _fetch_in_process("conll04", "--mirror", mirror, "--dest", dest) == 0
    assert target.is_file()


def test_fetch_bad_data_subprocess(tmp_path: Path) -> None:
    mirror, dest = _make_mirror(tmp_path), tmp_path / "data"
    broken = [_conll04_doc(0)]
    broken[0]["entities"][1]["end"] = 9  # past the 5 tokens
    bad_file = _write(mirror / "conll04" / "test.json", json.dumps(broken))
    result = _run_fetch("conll04", "--mirror", mirror, "--dest", dest)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(bad_file) in result.stderr
    assert "field 'entities[1]'" in result.stderr
    assert not (dest / "conll04" / "test.json").exists()


def test_fetch_conll03_without_mirror_subprocess(tmp_path: Path) -> None:
    result = _run_fetch("conll03", "--dest", tmp_path / "data")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "conll03" in result.stderr
    assert "--mirror" in result.stderr


def test_fetch_error_paths_in_process(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mirror, dest = _make_mirror(tmp_path), tmp_path / "data"

    assert _fetch_in_process("--mirror", tmp_path / "nowhere", "--dest", dest) == 2
    assert f"{tmp_path / 'nowhere'}: mirror folder not found" in capsys.readouterr().err

    (mirror / "conll04" / "dev.json").unlink()
    assert _fetch_in_process("conll04", "--mirror", mirror, "--dest", dest) == 2
    assert f"{mirror / 'conll04' / 'dev.json'}: file not found" in capsys.readouterr().err

    assert _fetch_in_process("scierc", "--mirror", mirror, "--dest", dest) == 2
    assert f"{mirror / 'scierc'}: dataset folder not found" in capsys.readouterr().err

    _write(mirror / "conll03" / "eng.testb", "Oslo NNP I-NP Z-LOC\n")
    assert _fetch_in_process("conll03", "--mirror", mirror, "--dest", dest) == 2
    err = capsys.readouterr().err
    assert f"{mirror / 'conll03' / 'eng.testb'}, line 1, field 'tag'" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    assert _fetch_in_process("--mirror", empty, "--dest", dest) == 2
    assert "holds none of the dataset folders" in capsys.readouterr().err

    # An unknown dataset name is a usage error (argparse exits with 2 too).
    assert _fetch_in_process("conll05", "--dest", dest) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_fetch_takes_flatness_from_the_dataset_configs() -> None:
    # configs/dataset/<name>.yaml states the nesting depth; fetch.py does not restate it.
    assert set(fetch.DATASETS) <= set(dataset_names())
    for name, spec in fetch.DATASETS.items():
        assert spec.flat == (load_dataset_spec(name).nesting_depth == 1), name
    assert fetch.DATASETS["conll04"].flat and fetch.DATASETS["conll03"].flat
    assert not fetch.DATASETS["scierc"].flat and not fetch.DATASETS["genia"].flat


def test_download_failure_names_the_url(tmp_path: Path) -> None:
    url = (tmp_path / "missing" / "train.json").as_uri()
    with pytest.raises(fetch.FetchError) as info:
        fetch.download(url)
    assert url in str(info.value)


def test_download_validates_and_names_the_url(tmp_path: Path) -> None:
    good = _write(tmp_path / "site" / "train.json", json.dumps([_conll04_doc(0)]))
    _write(tmp_path / "site" / "dev.json", "[{}]")
    dest = tmp_path / "data" / "conll04"
    docs = fetch._download_validated(good.as_uri(), dest / "train.json", flat=True)
    assert len(docs) == 1
    assert (dest / "train.json").read_bytes() == good.read_bytes()

    bad_url = (tmp_path / "site" / "dev.json").as_uri()
    with pytest.raises(DatasetFormatError) as info:
        fetch._download_validated(bad_url, dest / "dev.json", flat=True)
    assert str(info.value).startswith(f"{bad_url}, document 0, field 'tokens'")
    assert sorted(p.name for p in dest.iterdir()) == ["train.json"]


# --- the real corpora -------------------------------------------------------------------------


def test_real_conll03_and_genia_counts() -> None:
    if not (SHARED_DATASETS / "conll03").is_dir() or not (SHARED_DATASETS / "genia").is_dir():
        pytest.skip(f"real datasets not found under {SHARED_DATASETS}")
    expected_conll03 = {
        "eng.train": (14041, 946),
        "eng.testa": (3250, 216),
        "eng.testb": (3453, 231),
    }
    for name, (sentences, documents) in expected_conll03.items():
        docs = convert_conll03(SHARED_DATASETS / "conll03" / name)
        assert (len(docs), count_documents(docs)) == (sentences, documents), name
    for split, sentences in (("train", 15023), ("dev", 1669), ("test", 1854)):
        assert len(convert_genia(SHARED_DATASETS / "genia" / f"{split}.json")) == sentences, split
