"""A checkpoint folder on the Hugging Face Hub: which of its files make the checkpoint, its
model card, and uploading both.

transformers' own ``push_to_hub`` writes a generic card (``library_name: transformers``, no
scores) over the one a training run wrote; pushing through here keeps ours. huggingface_hub
is imported inside the functions, so ``import iter`` and ``iter --help`` stay light, and
nothing here imports torch: ``iter push`` uploads files without loading the model.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

from iter.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, ModelCard

CARD_FILE = "README.md"
CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
# The card metadata every card of ours carries (iter.cards builds the full card on them).
LIBRARY_NAME = "iter-ie"
LICENSE = "apache-2.0"
# What may lie in a checkpoint folder without being part of the checkpoint: a run's resume
# state (training_state.pt) and other pickled training states (our weights are safetensors
# or pytorch_model.bin), locks, files still being written (hidden temporaries) and editor
# leftovers. Folders are left out too: save_pretrained writes none.
LEFT_OUT = ("*.pt", "*.pth", "*.ckpt", "*.lock", ".*", "*.tmp", "*~")


@dataclass(frozen=True)
class CheckpointUpload:
    """The files of ``folder`` that an upload sends (names, sorted), and what it leaves out."""

    folder: Path
    files: tuple[str, ...]
    left_out: tuple[str, ...]


def checkpoint_upload(folder: str | Path) -> CheckpointUpload:
    """What uploading ``folder`` sends; an error naming the folder if it is no saved ITER
    checkpoint with a model card (config.json of model_type iter, weights, README.md)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    files, left_out = [], []
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            left_out.append(path.name + "/")
        elif any(fnmatch(path.name, pattern) for pattern in LEFT_OUT):
            left_out.append(path.name)
        else:
            files.append(path.name)
    if CONFIG_FILE not in files:
        raise CheckpointError(f"{folder}: config.json is missing; not a saved ITER model")
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        model_type = config.get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise CheckpointError(f"{folder / CONFIG_FILE}: not a valid model config ({err})") from None
    if model_type != "iter":
        raise CheckpointError(f"{folder / CONFIG_FILE}: model_type is {model_type!r}, not 'iter'")
    if not any(name in files for name in WEIGHT_FILES):
        raise CheckpointError(f"{folder}: no weights ({' or '.join(WEIGHT_FILES)})")
    if CARD_FILE not in files:
        raise CheckpointError(
            f"{folder}: no model card (README.md); a training run writes one, and "
            "model.push_to_hub() writes a minimal one"
        )
    return CheckpointUpload(folder, tuple(files), tuple(left_out))


def read_card(path: str | Path) -> ModelCard:
    """The model card at ``path`` (a README.md), parsed as the hub will parse it."""
    import yaml  # huggingface_hub's own dependency, which parses the card's header
    from huggingface_hub import ModelCard

    try:
        return ModelCard.load(Path(path))
    except (ValueError, TypeError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise CheckpointError(f"{path}: not a valid model card ({_reason(err)})") from None


def check_repo_id(repo_id: str) -> None:
    """A repository id the hub accepts (``name`` or ``owner/name``), or one clear error."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ConfigError(f"{repo_id}: not a hub repository id ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    """The first sentence of a library's message: what is wrong, without its advice on
    arguments that a user of ours does not pass."""
    text = str(err).strip()
    return text.splitlines()[0].split(". ")[0].rstrip(".") if text else type(err).__name__


def hub_base_model(name: str | None) -> str | None:
    """``name`` if it can be a hub model id; a local encoder folder links to nothing there."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not name or Path(name).expanduser().exists():
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def card_tags(has_relations: bool) -> list[str]:
    return ["iter", "nlp", "named-entity-recognition"] + (
        ["relation-extraction"] if has_relations else []
    )


def minimal_card(
    repo_id: str,
    model_class: str,
    base_model: str | None,
    entity_types: list[str],
    relation_types: list[str],
) -> str:
    """The card of a model that no training run described: what it is and how to load it,
    and no scores, since none were recorded."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        library_name=LIBRARY_NAME,
        license=LICENSE,
        base_model=hub_base_model(base_model),
        tags=card_tags(bool(relation_types)),
    )
    relations = f" and relation types {', '.join(relation_types)}" if relation_types else ""
    body = (
        f"# ITER\n\nAn ITER model ({model_class}) for entity types "
        f"{', '.join(entity_types)}{relations}, pushed without a training run's card: no "
        "evaluation is recorded for it.\n\n```text\npip install iter-ie\n```\n\n```python\n"
        f'from iter import {model_class}\n\nmodel = {model_class}.from_pretrained("{repo_id}")\n'
        'print(model.predict(["Mary Smith works for Acme Corp. in Boston."]))\n```\n'
    )
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def with_tags(card_text: str, tags: list[str] | None) -> str:
    """The card with ``tags`` added to its metadata (as transformers' ``push_to_hub(tags=)``)."""
    if not tags:
        return card_text
    from huggingface_hub import ModelCard

    card = ModelCard(card_text)
    card.data.tags = list(dict.fromkeys([*(card.data.tags or []), *tags]))
    return str(card)


def push_checkpoint(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | bool | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
) -> CommitInfo:
    """Create ``repo_id`` if needed and upload the checkpoint files of ``folder`` (as
    :func:`checkpoint_upload` lists them, README.md included) in one commit."""
    from huggingface_hub import HfApi

    from iter.version import __version__

    check_repo_id(repo_id)
    upload = checkpoint_upload(folder)
    read_card(upload.folder / CARD_FILE)  # a card the hub cannot parse is not sent
    api = HfApi(token=token, library_name=LIBRARY_NAME, library_version=__version__)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=upload.folder,
        # Exactly these files; escaped, since the hub reads the patterns as globs.
        allow_patterns=[glob.escape(name) for name in upload.files],
        commit_message=commit_message or "Upload ITER checkpoint",
        revision=revision,
        create_pr=create_pr,
    )
