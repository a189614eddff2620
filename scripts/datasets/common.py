"""Helpers shared by the dataset scripts: source-format errors, atomic writes, CLI error handling.

Kept separate from :mod:`iter` because only the one-off dataset scripts need them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from iter.errors import DatasetFormatError, IterError


class SourceFormatError(DatasetFormatError):
    """A source-format file (CoNLL columns, GENIA, DyGIE JSONL) that cannot be converted.

    Like :class:`DatasetFormatError` it names the file, document and field, and it can also
    name a line, since the line-based formats are easiest to fix by line number.
    """

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        document: int | str | None = None,
        field: str | None = None,
    ) -> None:
        # The parent only takes integer document indices; source documents may be named by key.
        super().__init__(str(path), message, None, field)
        self.line = line
        self.document = document
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if document is not None:
            where += f", document {document}"
        if field is not None:
            where += f", field '{field}'"
        self.args = (f"{where}: {message}",)

    def __str__(self) -> str:
        return str(self.args[0])


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; once the block succeeds it replaces ``path``.

    The target then holds either its old content or the complete new one, so an interrupted
    run never leaves a truncated file that a later run would take as already fetched. The
    temporary name carries the process id unless ``suffix`` is given, so that two runs do not
    write into one file; it is created by ``open`` so the usual umask applies.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{suffix}" if suffix else f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        # Never leave the partial file behind, whatever interrupted the write.
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(payload: bytes, path: str | Path) -> None:
    """Write ``payload`` to ``path`` through a temporary file and :func:`os.replace`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def write_json_atomic(data: object, path: str | Path) -> None:
    """Write ``data`` as UTF-8 JSON to ``path`` atomically."""
    write_bytes_atomic(json.dumps(data, ensure_ascii=False).encode("utf-8"), path)


def run_cli(main: Callable[[], int]) -> None:
    """Run ``main`` and turn user-facing errors into one line on stderr and exit code 2."""
    try:
        code = main()
    except IterError as err:
        print(f"error: {err}", file=sys.stderr)
        code = err.exit_code
    except OSError as err:
        # OSError covers unreadable or unwritable paths; its message already names the file.
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
