"""Checkpoints saved by the authors' code (fleonce/ITER) load and decode exactly as theirs.

The folders here are written by hand in their format (their config.json fields, their weight
names) around a tiny random BERT. The expected predictions are computed in this file with
plain torch, one sentence and one position at a time, following their ``generate``: from the
weights as written, independent of this library's decoding code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import AutoConfig, AutoTokenizer, BertModel, T5EncoderModel

from iter import ITERForRelationExtraction
from iter.errors import CheckpointError
from iter.modeling import authors, loading
from iter.modeling.authors import AuthorsCheckpointError
from iter.modeling.loading import load_model
from iter.modeling.model import ITER
from iter.modeling.word_boundaries import word_boundary_masks
from tests.conftest import minilm_path, sentencepiece_style_tokenizer, tiny_encoder_config

ENTITY_TYPES = ["Loc", "Org", "Peop"]
LINK_TYPES = ["Work_For", "Live_In"]
SENTENCES = [
    "John Wilkes Booth, who assassinated President Lincoln, was an actor.",
    "Acme Corporation employs Mary Smith in Boston.",
]
D_FF = 8
# Their features: bit 5 (a NONE class), bit 9 (nested decoding), bit 11 (entities only),
# bit 13 (empty examples, training only). 10784 is their GENIA config's value.
CASES = {
    "flat": {"features": 0, "max_nest_depth": 1},
    "nested": {"features": (1 << 5) | (1 << 9), "max_nest_depth": 3},
    "genia": {"features": 10784, "max_nest_depth": 4},
    "t5": {"features": 0, "max_nest_depth": 1, "family": "t5"},
}


def their_encoder(encoder_config: dict):
    """The encoder class their code picks: BertModel for BERT, T5EncoderModel for T5."""
    config = AutoConfig.for_model(**encoder_config)
    return (T5EncoderModel if config.model_type == "t5" else BertModel)(config)


def write_authors_checkpoint(
    folder: Path,
    tokenizer,
    features: int,
    max_nest_depth: int,
    seed: int = 0,
    family: str = "bert",
    **overrides,
) -> dict[str, torch.Tensor]:
    """A checkpoint folder as the authors' save_pretrained writes it; returns its weights."""
    nested = bool(features >> 9 & 1)
    encoder_config = tiny_encoder_config(family, len(tokenizer))
    torch.manual_seed(seed)
    encoder = their_encoder(encoder_config)
    width, pair = encoder.config.hidden_size, 2 * D_FF  # use_scale: pair heads twice as wide
    # T5's token embedding is tied to ``shared``; save_pretrained stores it once.
    state = {
        "model." + key: value
        for key, value in encoder.state_dict().items()
        if key != "encoder.embed_tokens.weight"
    }
    shapes = {
        "is_l": (D_FF, width, 1),
        "lr_score": (pair, 2 * width, len(ENTITY_TYPES) + nested),
        "rr_score": (pair, 2 * width, len(LINK_TYPES)),
    }
    for name, (inner, d_in, d_out) in shapes.items():
        # Inputs are layer-normed states: these gains give logits of a few units. The output
        # rows share a common part, so that the types of a pair rise and fall together and
        # about half of the starts, spans and links fire (independent rows would make the
        # log-sum-exp of the span types positive almost everywhere).
        state[f"{name}.gate.weight"] = torch.randn(inner, d_in) / d_in**0.5
        state[f"{name}.wi.weight"] = torch.randn(inner, d_in) / d_in**0.5
        common = torch.randn(1, inner).expand(d_out, inner)
        state[f"{name}.wo.weight"] = (common * 8 + torch.randn(d_out, inner)) / inner**0.5
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "model.safetensors"))
    tokenizer.save_pretrained(folder)
    config = {
        "architectures": ["ITERForRelationExtraction"],
        "model_type": "iter",
        "transformer_config": {**encoder_config, "_name_or_path": minilm_path()},
        "num_types": len(ENTITY_TYPES) + nested,
        "num_links": len(LINK_TYPES),
        "features": features,
        "dataset": "tiny",
        "max_nest_depth": max_nest_depth,
        "dropout": 0.3,
        "activation_fn": "gelu",
        "use_bias": False,
        "use_gate": True,
        "use_mlp": True,
        "use_scale": True,
        "threshold": 0.5,
        "entity_types": ENTITY_TYPES,
        "link_types": LINK_TYPES,
        "d_ff": D_FF,
        "d_model": width,
        "max_length": 128,
        "is_encoder_decoder": False,
        "transformers_version": "4.46.0",
        **overrides,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return state


def their_ffn(state: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    """Their gated head at inference: wo(gelu(gate x) * (wi x)), no biases."""
    gate = F.gelu(x @ state[f"{name}.gate.weight"].T)
    return (gate * (x @ state[f"{name}.wi.weight"].T)) @ state[f"{name}.wo.weight"].T


def their_generate(state, encoder_config, encodings, features, depth, threshold=0.5):
    """Their decoding, one sentence at a time: (entities, links) per sentence and the smallest
    margin of any decision (how far a logit was from flipping it)."""
    nested, links_on = bool(features >> 9 & 1), not features >> 11 & 1
    encoder = their_encoder(encoder_config).eval()
    encoder.load_state_dict(
        {k[len("model.") :]: v for k, v in state.items() if k[:6] == "model."}, strict=False
    )
    if hasattr(encoder, "tie_weights"):
        encoder.tie_weights()
    with torch.no_grad():
        hidden = encoder(**encodings).last_hidden_state
    results, margins = [], []
    for b in range(hidden.size(0)):
        n = int(encodings["attention_mask"][b].sum())  # right padding
        h = hidden[b]
        start_logits = their_ffn(state, "is_l", h[:n]).squeeze(-1)
        margins += start_logits.abs().tolist()
        starts = [i for i in range(n) if start_logits[i] > 0]  # special tokens included
        entities = []
        for end in range(n):
            closest = [s for s in reversed(starts) if s <= end][: depth if nested else 1]
            for start in closest:
                logits = their_ffn(state, "lr_score", torch.cat((h[start], h[end])))
                if nested:  # a real type must beat the NONE class (the last)
                    decision = logits[:-1].max() - logits[-1]
                    kind = int(logits[:-1].argmax())
                else:  # some type against "no span" at a fixed logit 0
                    decision, kind = logits.logsumexp(0), int(logits.argmax())
                margins.append(abs(float(decision)))
                if decision > 0:
                    entities.append((start, end, kind))
        links = []
        for head in entities if links_on else []:
            for tail in entities:  # every ordered pair, a span with itself included
                state_of = {e: h[e[1]] + h[e[0]] if nested else h[e[1]] for e in (head, tail)}
                probs = their_ffn(state, "rr_score", torch.cat((state_of[tail], state_of[head])))
                probs = probs.sigmoid()
                margins += (probs - threshold).abs().tolist()
                links += [(head, tail, r, float(p)) for r, p in enumerate(probs) if p > threshold]
        results.append((entities, links))
    return results, min(margins)


def as_sets(output, b):
    entities = sorted((e.start, e.end, e.type) for e in output.entities[b])
    links = sorted(
        ((lk.head.start, lk.head.end), (lk.tail.start, lk.tail.end), lk.type)
        for lk in output.links[b]
    )
    return entities, links


def expected_sets(result):
    entities, links = result
    spans = sorted((s, e + 1, ENTITY_TYPES[t]) for s, e, t in entities)
    pairs = sorted(((h[0], h[1] + 1), (t[0], t[1] + 1), LINK_TYPES[r]) for h, t, r, _ in links)
    return spans, pairs


@pytest.fixture(scope="module")
def encodings(minilm_tokenizer):
    return minilm_tokenizer(SENTENCES, padding=True, return_tensors="pt")


@pytest.mark.parametrize("case", CASES)
def test_generate_gives_exactly_the_authors_predictions(case, minilm_tokenizer, tmp_path):
    features, depth = CASES[case]["features"], CASES[case]["max_nest_depth"]
    family = CASES[case].get("family", "bert")
    tokenizer = minilm_tokenizer if family == "bert" else sentencepiece_style_tokenizer(family)
    encodings = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    state = write_authors_checkpoint(tmp_path / "ckpt", tokenizer, features, depth, family=family)
    model = ITERForRelationExtraction.from_pretrained(tmp_path / "ckpt")
    assert model.config.decoding == "authors" and not model.training
    assert model.tokenizer is not None
    assert (model.link_head is None) == (case == "genia")
    encoder_config = tiny_encoder_config(family, len(tokenizer))
    expected, margin = their_generate(state, encoder_config, encodings, features, depth)
    assert margin > 1e-4, "a decision too close to call: pick another seed"
    output = model.generate(encodings["input_ids"], attention_mask=encodings["attention_mask"])
    for b, result in enumerate(expected):
        assert as_sets(output, b) == expected_sets(result), f"sentence {b}"
        probabilities = sorted(p for *_, p in result[1])
        found = sorted(link.probability for link in output.links[b])
        assert found == pytest.approx(probabilities, abs=1e-5)

    # The case exercises what sets their decoding apart from ours.
    starts, ends = word_boundary_masks(
        tokenizer, encodings["input_ids"], encodings["attention_mask"]
    )
    spans = [(b, s, e) for b, (ents, _) in enumerate(expected) for s, e, _ in ents]
    assert any(not (starts[b, s] and ends[b, e]) for b, s, e in spans), "no sub-word span"
    links = [link for _, sentence_links in expected for link in sentence_links]
    if case != "genia":
        assert any(head == tail for head, tail, _, _ in links), "no self-link"
        directed = {(head, tail) for head, tail, _, _ in links}
        assert any((t, h) in directed for h, t in directed if h != t), "no two-way link"
    else:
        assert not links


def test_converted_model_saves_and_reloads_in_our_format(minilm_tokenizer, encodings, tmp_path):
    write_authors_checkpoint(tmp_path / "theirs", minilm_tokenizer, **CASES["nested"])
    model = load_model(tmp_path / "theirs")
    model.save_pretrained(tmp_path / "ours")
    saved = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert saved["decoding"] == "authors" and "encoder_config" in saved
    again = load_model(tmp_path / "ours")
    ids, mask = encodings["input_ids"], encodings["attention_mask"]
    first = model.generate(ids, attention_mask=mask)
    second = again.generate(ids, attention_mask=mask)
    assert [as_sets(first, b) for b in range(2)] == [as_sets(second, b) for b in range(2)]


def test_entities_only_class_and_load_model_pick_the_right_heads(minilm_tokenizer, tmp_path):
    write_authors_checkpoint(tmp_path / "re", minilm_tokenizer, **CASES["flat"])
    write_authors_checkpoint(tmp_path / "ner", minilm_tokenizer, **CASES["genia"])
    # Their ITER class (entities only) leaves a link head unused; so does ours.
    entities_only = ITER.from_pretrained(tmp_path / "re")
    assert entities_only.link_head is None and entities_only.config.relation_types == []
    assert load_model(tmp_path / "re").config.relation_types == LINK_TYPES
    assert load_model(tmp_path / "ner").link_head is None


def _damage_config(key, value):
    def damage(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        if value is None:
            del config[key]
        elif key == "transformer_config.model_type":
            config["transformer_config"]["model_type"] = value
        else:
            config[key] = value
        (folder / "config.json").write_text(json.dumps(config))

    return damage


BROKEN = {
    "no encoder config": (_damage_config("transformer_config", None), "'transformer_config'"),
    "unknown encoder": (
        _damage_config("transformer_config.model_type", "no-such-encoder"),
        "'transformer_config.model_type'",
    ),
    "num_types not a number": (_damage_config("num_types", "three"), "'num_types'"),
    "unsupported feature": (_damage_config("features", 1 << 18), "'features'"),
    "nested without NONE class": (_damage_config("features", 1 << 9), "'features'"),
    "names do not fit": (_damage_config("entity_types", ["Loc"]), "'entity_types'"),
    "unknown activation": (_damage_config("activation_fn", "swishy"), "'activation_fn'"),
    "widths do not fit": (_damage_config("use_scale", False), "lr_score.gate.weight"),
    "bad threshold": (_damage_config("threshold", 2), "'threshold'"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_authors_config_is_one_clear_line(case, minilm_tokenizer, tmp_path):
    damage, field = BROKEN[case]
    write_authors_checkpoint(tmp_path / "ckpt", minilm_tokenizer, **CASES["flat"])
    damage(tmp_path / "ckpt")
    with pytest.raises(AuthorsCheckpointError) as caught:
        ITERForRelationExtraction.from_pretrained(tmp_path / "ckpt")
    message = str(caught.value)
    assert field in message and "\n" not in message and str(tmp_path / "ckpt") in message
    # load_model reports it as is: a CheckpointError, not wrapped again.
    with pytest.raises(CheckpointError, match="^" + str(tmp_path / "ckpt")):
        load_model(tmp_path / "ckpt")


def test_unexpected_weight_is_named(minilm_tokenizer, tmp_path):
    state = write_authors_checkpoint(tmp_path / "ckpt", minilm_tokenizer, **CASES["flat"])
    state["lr_score.wi.bias"] = torch.zeros(2 * D_FF)
    save_file(state, str(tmp_path / "ckpt" / "model.safetensors"))
    with pytest.raises(AuthorsCheckpointError, match=r"lr_score\.wi\.bias"):
        ITERForRelationExtraction.from_pretrained(tmp_path / "ckpt")


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """A hub that serves the folders in ``repos`` by id (no hub is reachable here) and
    records every id it is asked for."""
    repos: dict[str, Path] = {}
    asked: list[str] = []

    def cached_file(repo_id, filename, **kwargs):
        asked.append(repo_id)
        path = repos.get(repo_id, tmp_path / "absent") / filename
        if not path.is_file():
            raise OSError(f"{repo_id} does not appear to have a file named {filename}")
        return str(path)

    class Tokenizers:
        @staticmethod
        def from_pretrained(name, **kwargs):
            return AutoTokenizer.from_pretrained(str(repos.get(name, name)), **kwargs)

    monkeypatch.setattr(authors, "cached_file", cached_file)
    monkeypatch.setattr(loading, "cached_file", cached_file)
    monkeypatch.setattr(authors, "AutoTokenizer", Tokenizers)
    return repos, asked


def test_hub_ids_go_to_the_hub(fake_hub, minilm_tokenizer, tmp_path, monkeypatch):
    repos, asked = fake_hub
    monkeypatch.chdir(tmp_path)  # "fleonce/iter-tiny" is no folder here
    repos["fleonce/iter-tiny"] = tmp_path / "served"
    write_authors_checkpoint(tmp_path / "served", minilm_tokenizer, **CASES["flat"])
    model = load_model("fleonce/iter-tiny")
    assert model.config.decoding == "authors" and model.tokenizer is not None
    assert "fleonce/iter-tiny" in asked

    with pytest.raises(CheckpointError, match="no hub model of that name"):
        load_model("owner/missing")
    assert asked[-1] == "owner/missing"
    # A path that cannot be a hub id is reported as a missing folder, the hub not asked.
    asked.clear()
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_model(tmp_path / "missing" / "run")
    assert asked == []


def test_tokenizer_falls_back_to_the_encoders_as_their_code_loads_it(
    minilm_tokenizer, encodings, tmp_path
):
    write_authors_checkpoint(tmp_path / "ckpt", minilm_tokenizer, **CASES["flat"])
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (tmp_path / "ckpt" / name).unlink(missing_ok=True)
    # transformer_config._name_or_path names the (local) MiniLM folder here.
    model = ITERForRelationExtraction.from_pretrained(tmp_path / "ckpt")
    assert model.tokenizer is not None
    assert model.tokenizer(SENTENCES[0])["input_ids"] == minilm_tokenizer(SENTENCES[0])["input_ids"]
