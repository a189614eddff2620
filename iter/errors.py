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


def unknown_setting_message(key: str, known: list[str]) -> str:
    """``key`` is not a setting: the message names where it was looked for and the closest
    of the ``known`` names beside it."""
    import difflib

    owner_key, _, name = key.rpartition(".")
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {owner_key + '.' if owner_key else ''}{close[0]}?" if close else ""
    return f"{key}: not a setting of {owner_key or 'the top level'}{hint}"


def hydra_error_line(err: Exception) -> str:
    """A Hydra composition error in one line: its message and the cause under it, without
    the lines that add nothing for a user (the key's types, the config search path)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if err.__cause__ is not None and str(err.__cause__).strip():
        lines.append(str(err.__cause__).strip().splitlines()[0])
    noise = ("full_key", "object_type", "reference_type", "Config search path", "provider=")
    kept = dict.fromkeys(line for line in lines if not line.startswith(noise))
    return " ".join(kept) or type(err).__name__
