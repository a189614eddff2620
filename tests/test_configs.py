"""Every config group composes, and the paper's flags map onto Hydra overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from iter.cli.flags import translate_flags
from iter.data.registry import (
    CONFIG_DIR,
    DatasetSpec,
    compose_config,
    dataset_names,
    load_dataset_spec,
)
from iter.errors import ConfigError


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def test_default_composition_is_the_papers_conll04_setup():
    # Less MiniLM's own CoNLL04 settings (the next test), the defaults are the paper's.
    cfg = compose_config(["~model_dataset"])
    assert cfg.dataset.name == "conll04"
    assert cfg.model.transformer == "sentence-transformers/all-MiniLM-L6-v2"
    t = cfg.trainer
    assert (t.batch_size, t.encoder_lr, t.head_lr) == (8, 5e-5, 3e-4)
    assert (t.encoder_weight_decay, t.head_weight_decay) == (0.1, 0.02)
    assert (t.encoder_warmup, t.head_warmup, t.max_epochs, t.patience) == (0.05, 0.01, 100, 10)
    assert cfg.logger.name == "wandb" and cfg.logger.mode == "offline"
    assert Path(cfg.paths.data_dir).is_absolute()


def test_minilm_on_conll04_gets_its_measured_settings_and_nothing_else_does():
    default = compose_config()
    assert default.trainer.max_epochs == 30 and default.model.signature_constraint is True
    assert default.trainer.ema_decay == 0.998
    # Another encoder on CoNLL04, or MiniLM on another dataset: the dataset's own settings.
    bert = compose_config(["model=bert-base"])
    assert bert.trainer.max_epochs == 100 and bert.model.signature_constraint is False
    assert bert.trainer.ema_decay is None
    scierc = compose_config(["dataset=scierc"])
    assert scierc.trainer.max_epochs == 25 and scierc.model.signature_constraint is False
    # An override, an experiment or a debug preset still wins.
    assert compose_config(["trainer.max_epochs=7"]).trainer.max_epochs == 7
    assert compose_config(["debug=short"]).trainer.max_epochs == 2
    final = compose_config(["experiment=conll04_final"])
    assert final.trainer.max_epochs == 30 and final.trainer.select_best is False
    # Every specialisation names an existing model config and dataset config.
    for path in (CONFIG_DIR / "model_dataset").glob("*.yaml"):
        model, dataset = path.stem.split("_", 1)
        assert model in options("model") and dataset in dataset_names(), path.name
        OmegaConf.to_container(compose_config([f"model={model}", f"dataset={dataset}"]))


def test_the_benchmarks_make_train_overrides_compose_to_what_make_train_trains():
    # benchmarks/ablation/make_train.overrides names `make train`'s CoNLL04 settings for the
    # ablation and the sweeps, which start from the published model (`~model_dataset`).
    path = Path(__file__).parents[1] / "benchmarks" / "ablation" / "make_train.overrides"
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert lines and all("=" in line for line in lines)
    written_out = compose_config(["~model_dataset", *lines])
    make_train = compose_config()
    assert OmegaConf.to_container(written_out.model) == OmegaConf.to_container(make_train.model)
    assert OmegaConf.to_container(written_out.trainer) == OmegaConf.to_container(make_train.trainer)
    # Without them the published model differs: the file is not vacuous.
    published = compose_config(["~model_dataset"])
    assert OmegaConf.to_container(published.trainer) != OmegaConf.to_container(make_train.trainer)


def test_dataset_names_are_the_dataset_configs_less_their_shared_base():
    assert dataset_names() == [name for name in options("dataset") if name != "base"]
    assert dataset_names() == ["ace05", "ade", "conll03", "conll04", "folder", "genia", "scierc"]
    with pytest.raises(ConfigError, match="unknown dataset 'base'"):
        load_dataset_spec("base")


# "folder" is your own data: it names no folder of its own (tests/data/test_folder.py).
@pytest.mark.parametrize("name", [name for name in dataset_names() if name != "folder"])
def test_every_dataset_config_composes_into_a_valid_spec(name):
    cfg = compose_config([f"dataset={name}"])
    spec = DatasetSpec.from_config(cfg.dataset)
    assert spec.name == name
    assert spec.entity_types
    assert (spec.selection_metric == "ner") == (not spec.relation_types)
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves


def test_dataset_base_config_states_the_spec_defaults():
    base = OmegaConf.load(CONFIG_DIR / "dataset" / "base.yaml").dataset
    for spec_field in dataclasses.fields(DatasetSpec):
        if spec_field.name == "extra":
            continue
        if spec_field.default is dataclasses.MISSING:
            assert OmegaConf.is_missing(base, spec_field.name), spec_field.name
            continue
        value = base[spec_field.name]
        if isinstance(spec_field.default, tuple):
            value = tuple(value)
        assert value == spec_field.default, spec_field.name


def test_dataset_facts():
    assert load_dataset_spec("scierc").symmetric_relation_types == ("Compare", "Conjunction")
    assert load_dataset_spec("genia").nesting_depth == 4
    ade = load_dataset_spec("ade", ["dataset.fold=7"])
    assert ade.metric_average == "macro"
    assert ade.path("train").name == "split_7_train.json"
    assert load_dataset_spec("conll03").context_window > 0


@pytest.mark.parametrize("group", ["model", "trainer", "logger", "debug", "experiment", "paths"])
def test_every_option_of_every_group_composes(group):
    for option in options(group):
        cfg = compose_config([f"{group}={option}"])
        OmegaConf.to_container(cfg, resolve=True)


def test_debug_preset_wins_over_dataset_hyperparameters():
    cfg = compose_config(["dataset=ade", "debug=short"])
    assert cfg.trainer.max_epochs == 2  # ade sets 20; the preset is applied last
    assert cfg.logger.name == "none"


def test_final_conll04_protocol_trains_on_train_and_dev():
    cfg = compose_config(["experiment=conll04_final"])
    assert list(cfg.dataset.train_splits) == ["train", "dev"]
    assert cfg.trainer.select_best is False


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown dataset 'conll05'; available: ace05"):
        load_dataset_spec("conll05")


def test_paper_flags_translate_to_overrides():
    assert translate_flags(
        [
            "--dataset",
            "conll04",
            "--transformer",
            "/m/x",
            "--seed",
            "3",
            "--use_bfloat16",
            "trainer.max_epochs=5",
            "--epochs=7",
        ]
    ) == [
        "dataset=conll04",
        "model.transformer=/m/x",
        "model=base",  # ITER as published, named after the encoder (tests/training/test_schema.py)
        "model.name=x",
        "seed=3",
        "trainer.precision=bf16",
        "trainer.max_epochs=5",
        "trainer.max_epochs=7",
    ]
    with pytest.raises(ConfigError, match="--seed needs a value"):
        translate_flags(["--seed"])


@pytest.mark.parametrize(
    ("launcher", "target"),
    [
        ("local", "submitit_launcher.LocalLauncher"),
        ("slurm", "submitit_launcher.SlurmLauncher"),
        ("parallel", "joblib_launcher.JoblibLauncher"),
    ],
)
def test_every_launcher_composes(launcher, target):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train", overrides=[f"hydra/launcher={launcher}", "seed=3"], return_hydra_config=True
        )
    assert cfg.hydra.launcher._target_.endswith(target)
    if launcher == "slurm":
        assert cfg.hydra.launcher.gpus_per_node == 1 and cfg.hydra.launcher.array_parallelism == 5


def test_sweep_folders_are_named_by_sweep_seed_and_fold():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train", overrides=["dataset=ade", "dataset.fold=4", "seed=2"], return_hydra_config=True
        )
        plain = compose("train", overrides=["seed=5"], return_hydra_config=True)
    assert cfg.hydra.sweep.dir.endswith("sweeps/ade/minilm/main")
    assert cfg.hydra.sweep.subdir == "fold4-seed2"
    assert plain.hydra.sweep.subdir == "seed5"
