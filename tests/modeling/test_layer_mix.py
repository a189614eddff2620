"""``model.layer_mix=scalar``: the heads read a learned mix of the encoder's layers."""

from __future__ import annotations

import pytest
import torch

from iter import ITERConfig, ITERForRelationExtraction
from iter.data.collate import iterate_batches
from iter.data.encoding import encode_documents
from iter.errors import ConfigError
from iter.modeling.layer_mix import ScalarMix
from tests.conftest import tiny_model
from tests.modeling.test_model import tokenizer_for, toy_documents


def test_equal_weights_average_the_states_and_gamma_scales_them():
    states = [torch.full((1, 2, 3), value) for value in (1.0, 2.0, 6.0)]
    mix = ScalarMix(3)
    assert torch.allclose(mix(states), torch.full((1, 2, 3), 3.0))
    with torch.no_grad():
        mix.gamma.fill_(2.0)
        mix.weights.copy_(torch.tensor([0.0, 0.0, 1.0]).log())  # all weight on the last
    assert torch.allclose(mix(states), torch.full((1, 2, 3), 12.0))


def test_a_wrong_number_of_states_is_named():
    with pytest.raises(ValueError, match="built for 3 hidden states, the encoder returned 2"):
        ScalarMix(3)([torch.zeros(1), torch.zeros(1)])


def test_an_unknown_layer_mix_is_a_config_error():
    with pytest.raises(ConfigError, match=r"model\.layer_mix must be one of last, scalar"):
        ITERConfig(layer_mix="sum")


@pytest.mark.parametrize("family", ["bert", "deberta", "t5"])
def test_the_mix_trains_and_survives_a_save(family, minilm_tokenizer, tmp_path):
    tokenizer = tokenizer_for(family, minilm_tokenizer)
    model = tiny_model(tokenizer, family, layer_mix="scalar")
    encoder_config = model.encoder.config
    layers = encoder_config.num_layers if family == "t5" else encoder_config.num_hidden_layers
    assert model.layer_mix.weights.numel() == layers + 1
    encoded, _ = encode_documents(
        toy_documents(), tokenizer, model.config.entity_types, model.config.relation_types, 128
    )
    batch = next(iterate_batches(encoded.to_list(), 2, tokenizer.pad_token_id))
    inputs = batch.model_inputs("cpu")
    model.train()
    model(**inputs).loss.backward()
    # The mix learns: its weights and scale get gradients from every step's loss.
    assert model.layer_mix.weights.grad.abs().sum() > 0
    assert model.layer_mix.gamma.grad.abs() > 0
    with torch.no_grad():
        model.layer_mix.weights.normal_()
    model.eval()
    model.save_pretrained(tmp_path)
    loaded = ITERForRelationExtraction.from_pretrained(tmp_path).eval()
    assert loaded.config.layer_mix == "scalar"
    assert torch.equal(loaded.layer_mix.weights, model.layer_mix.weights)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    assert torch.equal(loaded.encode(ids, mask), model.encode(ids, mask))


def test_one_hot_on_the_last_layer_reads_what_the_plain_model_reads(minilm_tokenizer):
    plain = tiny_model(minilm_tokenizer, seed=5)
    mixed = tiny_model(minilm_tokenizer, seed=5, layer_mix="scalar")
    mixed.encoder.load_state_dict(plain.encoder.state_dict())
    with torch.no_grad():
        mixed.layer_mix.weights.fill_(-1e4)
        mixed.layer_mix.weights[-1] = 0.0
    plain.eval()
    mixed.eval()
    ids = torch.tensor([minilm_tokenizer("John Smith works for Acme .")["input_ids"]])
    mask = torch.ones_like(ids)
    assert torch.allclose(mixed.encode(ids, mask), plain.encode(ids, mask), atol=1e-6)
