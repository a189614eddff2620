"""Pushing to the Hugging Face Hub keeps our model card: ``iter push`` and the model's
``push_to_hub`` upload a checkpoint's own files with its README.md, never transformers'
generic card. No network: ``huggingface_hub.HfApi`` is replaced by a recorder."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import huggingface_hub
import pytest
from huggingface_hub import ModelCard
from huggingface_hub.utils import filter_repo_objects

from iter.cards import card_details
from iter.cli.main import main
from iter.modeling.hub import checkpoint_upload
from iter.training.checkpoint import save_checkpoint
from tests.conftest import REPO, tiny_model
from tests.test_cards import VALUES as CARD_VALUES

# The card tests' values, as a CPU run would state them.
VALUES = replace(CARD_VALUES, seed=1, precision="fp32", device="CPU (2 threads)")
ENV = {"git_commit": "abc", "git_dirty": False, "transformers": "5", "python": "3.11"}


@pytest.fixture
def checkpoint(tmp_path, minilm_tokenizer) -> Path:
    """A checkpoint saved as a training run saves it, with things beside it that are not."""
    folder = tmp_path / "run" / "checkpoint-best"
    folder.parent.mkdir()
    details = card_details("iter train --dataset conll04", ENV, None, None, 1)
    save_checkpoint(tiny_model(minilm_tokenizer), folder, VALUES, details, {"epoch": 1})
    (folder / "training_state.pt").write_bytes(b"resume state")
    (folder / "checkpoint.lock").write_text("")
    (folder / ".README.md.tmp-123").write_text("half written")
    (folder / "logs").mkdir()
    return folder


class RecordingHfApi:
    """HfApi's two calls that a push makes; records what the hub would have received."""

    pushes: ClassVar[list[SimpleNamespace]] = []

    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs

    def create_repo(self, repo_id, *, private=None, exist_ok=False, **kwargs):
        self.repo = SimpleNamespace(repo_id=repo_id, private=private, exist_ok=exist_ok)
        return self.repo

    def upload_folder(self, *, repo_id, folder_path, allow_patterns, **kwargs):
        folder = Path(folder_path)
        names = sorted(p.name for p in folder.iterdir())
        # The hub's own pattern matching decides what is sent; read it now, since a model's
        # push uploads from a temporary folder.
        sent = list(filter_repo_objects(names, allow_patterns=allow_patterns))
        files = {name: (folder / name).read_bytes() for name in sent}
        self.pushes.append(SimpleNamespace(repo=self.repo, files=files, kwargs=kwargs))
        return f"https://huggingface.co/{repo_id}/commit/0123"


@pytest.fixture
def hub(monkeypatch) -> list[SimpleNamespace]:
    RecordingHfApi.pushes = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHfApi)
    return RecordingHfApi.pushes


def model_index(card_bytes: bytes, tmp_path: Path) -> dict[str, float]:
    path = tmp_path / "pushed-README.md"
    path.write_bytes(card_bytes)
    data = ModelCard.load(path).data
    return {result.metric_name: result.metric_value for result in data.eval_results}


CHECKPOINT_FILES = {
    "README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "training_info.json",
}  # fmt: skip


def test_the_upload_is_the_checkpoint_and_its_card(checkpoint, tmp_path):
    upload = checkpoint_upload(checkpoint)
    assert set(upload.files) >= CHECKPOINT_FILES
    assert set(upload.left_out) == {
        "training_state.pt", "checkpoint.lock", ".README.md.tmp-123", "logs/"
    }  # fmt: skip
    card = (checkpoint / "README.md").read_bytes()
    assert model_index(card, tmp_path) == {
        "NER micro F1": 85.12, "RE micro F1": 62.34, "RE+ micro F1": 61.23
    }  # fmt: skip


def test_iter_push_uploads_the_folder_with_our_card(checkpoint, hub, capsys, tmp_path):
    main(["push", str(checkpoint), "me/iter-conll04", "--private"])
    (push,) = hub
    assert push.repo.repo_id == "me/iter-conll04" and push.repo.private is True
    assert set(push.files) == set(checkpoint_upload(checkpoint).files)
    assert "training_state.pt" not in push.files
    assert push.files["README.md"] == (checkpoint / "README.md").read_bytes()
    assert model_index(push.files["README.md"], tmp_path)["RE+ micro F1"] == 61.23
    assert "pushed" in capsys.readouterr().out


def test_without_private_the_hub_default_applies(checkpoint, hub):
    main(["push", str(checkpoint), "me/iter-conll04"])
    assert hub[0].repo.private is None


def test_dry_run_lists_files_and_metadata_without_network(checkpoint, monkeypatch, capsys):
    def no_network(**kwargs):
        raise AssertionError("a dry run must not reach the hub")

    monkeypatch.setattr(huggingface_hub, "HfApi", no_network)
    upload = checkpoint_upload(checkpoint)
    main(["push", str(checkpoint), "me/iter-conll04", "--dry-run"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"would upload {len(upload.files)} files from {checkpoint} to me/")
    listed = {line.split()[0] for line in lines[1 : 1 + len(upload.files)]}
    assert listed == set(upload.files)
    assert "left out (not part of a checkpoint):" in out and "training_state.pt" in out
    assert "library_name: iter-ie" in out and "model-index:" in out
    assert "name: RE+ micro F1" in out and "value: 61.23" in out


def test_a_dry_run_loads_no_torch(checkpoint):
    code = (
        "import sys; from iter.cli.main import main; "
        f"main(['push', {str(checkpoint)!r}, 'me/x', '--dry-run']); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.split()[-1] == "False"


def test_the_models_push_to_hub_sends_the_card_of_its_checkpoint(checkpoint, hub, tmp_path):
    from iter import ITERForRelationExtraction

    model = ITERForRelationExtraction.from_pretrained(checkpoint)
    url = model.push_to_hub("me/iter-conll04", tags=["demo"])
    assert url.endswith("/commit/0123")
    (push,) = hub
    assert {"README.md", "config.json", "model.safetensors", "tokenizer.json"} <= set(push.files)
    card = ModelCard(push.files["README.md"].decode())
    assert card.data.library_name == "iter-ie" and "demo" in card.data.tags
    assert model_index(push.files["README.md"], tmp_path)["NER micro F1"] == 85.12
    assert card.text == ModelCard.load(checkpoint / "README.md").text


def test_a_model_without_a_card_pushes_a_minimal_one_without_scores(minilm_tokenizer, hub):
    tiny_model(minilm_tokenizer).push_to_hub("me/untrained")
    card = ModelCard(hub[0].files["README.md"].decode())
    assert card.data.library_name == "iter-ie" and card.data.eval_results is None
    assert "no evaluation is recorded" in card.text and "pip install iter-ie" in card.text
    assert 'ITERForRelationExtraction.from_pretrained("me/untrained")' in card.text


def test_save_pretrained_with_push_to_hub_keeps_our_card(checkpoint, hub, tmp_path):
    from iter import ITERForRelationExtraction

    model = ITERForRelationExtraction.from_pretrained(checkpoint)
    model.save_pretrained(tmp_path / "copy", push_to_hub=True, repo_id="me/copy")
    (push,) = hub
    assert push.repo.repo_id == "me/copy"
    assert push.files["README.md"] == (checkpoint / "README.md").read_bytes()


def fails(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err.strip()


def test_bad_folders_are_one_line_naming_the_path(tmp_path, checkpoint, hub, capsys):
    missing = tmp_path / "nowhere"
    assert fails(["push", str(missing), "me/x"], capsys) == (
        f"error: {missing}: no such checkpoint folder"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert fails(["push", str(empty), "me/x", "--dry-run"], capsys) == (
        f"error: {empty}: config.json is missing; not a saved ITER model"
    )
    (checkpoint / "README.md").unlink()
    assert fails(["push", str(checkpoint), "me/x"], capsys).startswith(
        f"error: {checkpoint}: no model card (README.md)"
    )
    assert hub == []


def test_a_broken_card_or_repo_id_is_refused_before_any_upload(checkpoint, hub, capsys):
    assert "not a hub repository id" in fails(["push", str(checkpoint), "me/x/y"], capsys)
    (checkpoint / "README.md").write_text("---\nmodel-index: [{name: x}]\n---\n")
    assert fails(["push", str(checkpoint), "me/x"], capsys).startswith(
        f"error: {checkpoint / 'README.md'}: not a valid model card"
    )
    assert hub == []


def test_a_failed_upload_is_one_line(checkpoint, monkeypatch, capsys):
    class Offline(RecordingHfApi):
        def upload_folder(self, **kwargs):
            raise OSError("Connection refused")

    monkeypatch.setattr(huggingface_hub, "HfApi", Offline)
    assert fails(["push", str(checkpoint), "me/x"], capsys) == (
        f"error: {checkpoint}: upload to me/x failed: Connection refused"
    )
