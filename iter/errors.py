"""Errors that reach the user as one clear message instead of a traceback."""

from __future__ import annotations


class IterError(Exception):
    """Base class: an error whose message is meant for the user, printed without a traceback."""

    exit_code: int = 2


class DatasetFormatError(IterError):
    """A dataset file breaks the common JSON format; names the file, document and field."""

    def __init__(
        self, path: str, message: str, document: int | None = None, field: str | None = None
    ) -> None:
        self.path = str(path)
        self.document = document
        self.field = field
        self.reason = message
        where = self.path
        if document is not None:
            where += f", document {document}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class ConfigError(IterError, ValueError):
    """A configuration value is missing, unknown or out of range (also a ``ValueError``)."""


class CheckpointError(IterError):
    """A checkpoint folder is missing files or does not match what is asked of it."""
