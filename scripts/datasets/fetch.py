"""Fetch the benchmark datasets into ``data/<dataset>/`` in the common JSON format.

Usage::

    python3 scripts/datasets/fetch.py [DATASET ...] [--mirror DIR] [--dest data] [--force]

DATASET is any of conll04, scierc, ade, conll03, genia (default: every one available). With
``--mirror DIR`` files are taken from a local folder laid out as::

    DIR/conll04/{train,dev,test}.json
    DIR/scierc/{train,dev,test}.json
    DIR/ade/split_{0..9}_{train,test}.json
    DIR/conll03/eng.{train,testa,testb}
    DIR/genia/{train,dev,test}.json

Without a mirror, CoNLL04, SciERC and ADE are downloaded from SpERT's public dataset URLs.
CoNLL-2003 and GENIA have no reliable public download, so they need ``--mirror``. CoNLL-2003
and GENIA are converted to the common format on the way; the others are copied as they are.
Every file is validated with the project's reader before it lands under its final name, and
written through a temporary file, so an interrupted run never leaves a half-written dataset
that a later run would skip. ACE05 needs an LDC licence: see ``convert_ace05.py``.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file: make the repository root importable so ``scripts.datasets`` resolves.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from iter.data.document import Document
from iter.data.reader import parse_documents, read_documents
from iter.data.registry import load_dataset_spec
from iter.errors import DatasetFormatError, IterError
from scripts.datasets.common import (
    atomic_path,
    run_cli,
    write_bytes_atomic,
    write_json_atomic,
)
from scripts.datasets.convert_conll03 import convert_conll03
from scripts.datasets.convert_genia import convert_genia

# SpERT's public copies of the usual splits (Eberts & Ulges 2020).
SPERT_BASE_URL = "http://lavis.cs.hs-rm.de/storage/spert/public/datasets"
CONLL04_URL = f"{SPERT_BASE_URL}/conll04"
SCIERC_URL = f"{SPERT_BASE_URL}/scierc"
ADE_URL = f"{SPERT_BASE_URL}/ade"

DOWNLOAD_TIMEOUT_S = 60
ADE_FOLDS = 10


class FetchError(IterError):
    """A dataset cannot be fetched: missing mirror, missing file, failed download."""


@dataclass(frozen=True)
class Part:
    """One file of a dataset: where it comes from and what it becomes."""

    source: str  # file name inside the mirror's dataset folder, and at the download URL
    target: str  # file name inside DEST/<dataset>/
    # Turns the source file into common-format documents; None: it already is common format.
    convert: Callable[[Path], list[dict]] | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    parts: tuple[Part, ...]
    base_url: str | None  # None: no reliable public download, a mirror is required
    # The targets whose totals are printed; ADE's folds are all the same sentences shuffled,
    # so summing all of them would count each sentence ten times.
    counted: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()  # optional files copied as they are (licences)

    @property
    def counted_targets(self) -> tuple[str, ...]:
        return self.counted or tuple(part.target for part in self.parts)

    @property
    def flat(self) -> bool:
        """Whether entity spans never overlap, which the reader then checks too: nesting depth
        1 in ``configs/dataset/<name>.yaml``, the one place that states it."""
        return _nesting_depth(self.name) == 1


@cache
def _nesting_depth(name: str) -> int:
    return load_dataset_spec(name).nesting_depth


def _conll03_part(source: str, split: str) -> Part:
    return Part(source, f"{split}.json", lambda path: convert_conll03(path, key_prefix=split))


_SPLITS = ("train", "dev", "test")

DATASETS: dict[str, DatasetSpec] = {
    "conll04": DatasetSpec(
        "conll04", tuple(Part(f"{s}.json", f"{s}.json") for s in _SPLITS), CONLL04_URL
    ),
    "scierc": DatasetSpec(
        "scierc", tuple(Part(f"{s}.json", f"{s}.json") for s in _SPLITS), SCIERC_URL
    ),
    "ade": DatasetSpec(
        "ade",
        tuple(
            Part(f"split_{fold}_{split}.json", f"split_{fold}_{split}.json")
            for fold in range(ADE_FOLDS)
            for split in ("train", "test")
        ),
        ADE_URL,
        counted=("split_0_train.json", "split_0_test.json"),
    ),
    "conll03": DatasetSpec(
        "conll03",
        (
            _conll03_part("eng.train", "train"),
            _conll03_part("eng.testa", "dev"),
            _conll03_part("eng.testb", "test"),
        ),
        None,
    ),
    "genia": DatasetSpec(
        "genia",
        tuple(Part(f"{s}.json", f"{s}.json", convert_genia) for s in _SPLITS),
        None,
        extras=("GENIA_LICENSE.txt",),
    ),
}


def download(url: str) -> bytes:
    """The body at ``url``; any failure is a :class:`FetchError` naming the URL."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        raise FetchError(f"could not download {url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise FetchError(f"could not download {url}: {err.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as err:
        # Timeouts, dropped connections, truncated bodies and malformed URLs.
        raise FetchError(f"could not download {url}: {err}") from None


def _download_validated(url: str, target: Path, flat: bool) -> list[Document]:
    """Download ``url`` to ``target`` only once the reader accepts it; return its documents."""
    payload = download(url)
    # A readable temporary name: the reader's warnings (merged duplicates) may mention it.
    with atomic_path(target, suffix=".download") as tmp:
        tmp.write_bytes(payload)
        try:
            return read_documents(tmp, allow_overlap=not flat)
        except DatasetFormatError as err:
            # Name where the data came from, not the temporary file the user never sees.
            raise DatasetFormatError(url, err.reason, err.document, err.field) from None


def _fetch_part(
    spec: DatasetSpec, part: Part, mirror: Path | None, dest_dir: Path
) -> list[Document]:
    target = dest_dir / part.target
    if mirror is not None:
        source = mirror / spec.name / part.source
        if not source.is_file():
            raise FetchError(f"{source}: file not found in the mirror")
        if part.convert is None:
            # Validate the mirror's file itself, so that messages name it; then copy it.
            documents = read_documents(source, allow_overlap=not spec.flat)
            write_bytes_atomic(source.read_bytes(), target)
            return documents
        converted = part.convert(source)
        documents = parse_documents(converted, str(source), allow_overlap=not spec.flat)
        write_json_atomic(converted, target)
        return documents
    if spec.base_url is None or part.convert is not None:
        raise FetchError(_no_download_message(spec.name))
    url = f"{spec.base_url}/{part.source}"
    print(f"downloading {url}", file=sys.stderr)
    return _download_validated(url, target, spec.flat)


def _no_download_message(name: str) -> str:
    layouts = {"conll03": "conll03/eng.{train,testa,testb}", "genia": "genia/{train,dev,test}.json"}
    layout = layouts.get(name, f"{name}/...")
    return (
        f"{name}: there is no reliable public download for this dataset; pass --mirror DIR "
        f"pointing at a local copy laid out as DIR/{layout}"
    )


def fetch_dataset(spec: DatasetSpec, mirror: Path | None, dest: Path, force: bool) -> str:
    """Fetch one dataset into ``dest/<name>/`` and return the line that reports it."""
    dest_dir = dest / spec.name
    if not force and all((dest_dir / part.target).is_file() for part in spec.parts):
        return f"{spec.name}: already present in {dest_dir}, skipped (use --force to fetch again)"
    if mirror is None and spec.base_url is None:
        raise FetchError(_no_download_message(spec.name))
    if mirror is not None and not (mirror / spec.name).is_dir():
        raise FetchError(f"{mirror / spec.name}: dataset folder not found in the mirror")

    counts: dict[str, list[Document]] = {}
    for part in spec.parts:
        counts[part.target] = _fetch_part(spec, part, mirror, dest_dir)
    if mirror is not None:
        for extra in spec.extras:
            source = mirror / spec.name / extra
            if source.is_file():
                write_bytes_atomic(source.read_bytes(), dest_dir / extra)

    counted = [counts[target] for target in spec.counted_targets]
    documents = sum(len(docs) for docs in counted)
    entities = sum(len(d.entities) for docs in counted for d in docs)
    relations = sum(len(d.relations) for docs in counted for d in docs)
    splits = ", ".join(
        f"{target.removesuffix('.json')} {len(counts[target])}" for target in spec.counted_targets
    )
    note = f"; one of {ADE_FOLDS} folds" if spec.name == "ade" else ""
    return (
        f"{spec.name}: {documents} documents, {entities} entities, {relations} relations "
        f"({splits}{note}) -> {dest_dir}"
    )


def select_datasets(requested: Sequence[str], mirror: Path | None) -> list[str]:
    """The datasets to fetch: those asked for, or by default every one available."""
    if requested:
        # Keep the user's order but drop repeats.
        return list(dict.fromkeys(requested))
    if mirror is None:
        return [name for name, spec in DATASETS.items() if spec.base_url is not None]
    available = [name for name in DATASETS if (mirror / name).is_dir()]
    if not available:
        raise FetchError(
            f"{mirror}: the mirror holds none of the dataset folders {', '.join(DATASETS)}"
        )
    return available


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fetch benchmark datasets into DEST/<dataset>/ in the common JSON format."
    )
    parser.add_argument(
        "datasets",
        nargs="*",
        metavar="DATASET",
        help=f"any of {', '.join(DATASETS)} (default: all available)",
    )
    parser.add_argument(
        "--mirror", type=Path, default=None, help="local folder laid out like the sources"
    )
    parser.add_argument("--dest", type=Path, default=Path("data"), help="output folder")
    parser.add_argument(
        "--force", action="store_true", help="fetch again even if the files are present"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.datasets if name not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    if args.mirror is not None and not args.mirror.is_dir():
        raise FetchError(f"{args.mirror}: mirror folder not found")

    for name in select_datasets(args.datasets, args.mirror):
        print(fetch_dataset(DATASETS[name], args.mirror, args.dest, args.force), flush=True)
    return 0


if __name__ == "__main__":
    run_cli(main)
