"""``iter push CHECKPOINT_DIR REPO_ID``: upload a checkpoint folder as it is (weights, config,
tokenizer, and the model card its training run wrote) to a Hugging Face Hub model repository.

The token is huggingface_hub's (``HF_TOKEN`` or ``hf auth login``). ``--dry-run`` lists what
would be uploaded and the card's metadata, and touches no network.
"""

from __future__ import annotations

from pathlib import Path

from iter.errors import IterError


class PushError(IterError):
    """The hub refused the upload, or could not be reached."""


def _size(path: Path) -> str:
    size, unit = float(path.stat().st_size), "B"
    for bigger in ("kB", "MB", "GB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"


def describe_push(folder: str | Path, repo_id: str, private: bool) -> str:
    """What ``iter push`` would do: the files, what it leaves out, the card's metadata."""
    from iter.modeling.hub import CARD_FILE, checkpoint_upload, read_card

    upload = checkpoint_upload(folder)
    card = read_card(upload.folder / CARD_FILE)
    visibility = " (private, if the repository is new)" if private else ""
    lines = [
        f"would upload {len(upload.files)} files from {upload.folder} to {repo_id}{visibility}:"
    ]
    width = max(len(name) for name in upload.files)
    lines += [f"  {name:<{width}}  {_size(upload.folder / name)}" for name in upload.files]
    if upload.left_out:
        lines.append(f"left out (not part of a checkpoint): {', '.join(upload.left_out)}")
    lines += [f"card metadata ({CARD_FILE}):", card.data.to_yaml()]
    return "\n".join(lines)


def push_command(folder: str, repo_id: str, private: bool = False, dry_run: bool = False) -> None:
    from iter.modeling.hub import check_repo_id, push_checkpoint

    check_repo_id(repo_id)
    if dry_run:
        print(describe_push(folder, repo_id, private))
        return
    # Without --private the hub's default applies (public, or the organisation's setting).
    try:
        commit = push_checkpoint(folder, repo_id, private=True if private else None)
    except (OSError, *_network_errors()) as err:  # the hub's HTTP errors are OSErrors
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PushError(f"{folder}: upload to {repo_id} failed: {first}") from None
    print(f"pushed {folder} to {repo_id}: {commit}")


def _network_errors() -> tuple[type[BaseException], ...]:
    """The HTTP client's own errors (connection refused, timeouts), which are no OSError."""
    import huggingface_hub.errors as errors

    http_error = getattr(errors, "HTTPError", None)
    return (http_error,) if isinstance(http_error, type) else ()
