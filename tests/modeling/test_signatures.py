"""model.signature_constraint: decoding links only the (head type, relation, tail type) triples
seen in training (``ITERConfig.relation_signatures``)."""

from __future__ import annotations

import pytest
import torch

from iter.data.document import Document, Entity, Relation, relation_signatures
from iter.errors import ConfigError
from iter.modeling.configuration import ITERConfig
from iter.modeling.decoding import SentenceDecoding, decode_links
from iter.modeling.model import ITERForRelationExtraction
from tests.conftest import CONLL04_ENTITIES, CONLL04_RELATIONS, minilm_path, tiny_model

LOC, ORG, PEOP = (CONLL04_ENTITIES.index(name) for name in ("Loc", "Org", "Peop"))
WORK_FOR, KILL, LOCATED_IN = (
    CONLL04_RELATIONS.index(name) for name in ("Work_For", "Kill", "Located_In")
)
SIGNATURES = [["Peop", "Work_For", "Org"], ["Peop", "Kill", "Peop"], ["Loc", "Located_In", "Org"]]


def test_signatures_of_documents_are_their_relations_type_triples_sorted():
    peop, org, loc = Entity(0, 1, "Peop"), Entity(3, 4, "Org"), Entity(5, 6, "Loc")
    docs = [
        Document(tuple("abcdefg"), (peop, org, loc),
                 (Relation(peop, org, "Work_For"), Relation(org, loc, "OrgBased_In"))),
        Document(tuple("abcdefg"), (peop, org), (Relation(peop, org, "Work_For"),)),
        Document(tuple("ab"), (peop,), ()),
    ]  # fmt: skip
    assert relation_signatures(docs) == [["Org", "OrgBased_In", "Loc"], ["Peop", "Work_For", "Org"]]
    assert relation_signatures([]) == []


def test_allowed_links_follow_the_span_types_and_both_orders_of_symmetric_types(
    minilm_tokenizer,
):
    model = tiny_model(
        minilm_tokenizer, symmetric=("Located_In",), relation_signatures=SIGNATURES
    )
    # Spans (start, end, type): a person, an organisation, a person, a place.
    spans = torch.tensor([[[1, 1, PEOP], [3, 4, ORG], [6, 6, PEOP], [8, 8, LOC]]])
    allowed = model.allowed_links(spans)
    assert allowed.shape == (1, 4, 4, len(CONLL04_RELATIONS))
    expected = torch.zeros_like(allowed)
    expected[0, 0, 1, WORK_FOR] = expected[0, 2, 1, WORK_FOR] = True
    expected[0, 0, 2, KILL] = expected[0, 2, 0, KILL] = expected[0, 0, 0, KILL] = True
    expected[0, 2, 2, KILL] = True
    # Located_In is symmetric: Loc -> Org is listed, Org -> Loc is allowed with it.
    expected[0, 3, 1, LOCATED_IN] = expected[0, 1, 3, LOCATED_IN] = True
    assert torch.equal(allowed, expected)
    assert tiny_model(minilm_tokenizer).allowed_links(spans) is None


def test_decode_links_fires_only_where_allowed():
    logits = torch.full((1, 2, 2, 2), 5.0)  # every pair and type would fire
    allowed = torch.zeros(1, 2, 2, 2, dtype=torch.bool)
    allowed[0, 0, 1, 1] = True
    sentences = [SentenceDecoding()]
    decode_links(logits, torch.ones(1, 2, dtype=torch.bool), None, 0.5, sentences, allowed=allowed)
    assert [link[:3] for link in sentences[0].links] == [(0, 1, 1)]
    unconstrained = [SentenceDecoding()]
    decode_links(logits, torch.ones(1, 2, dtype=torch.bool), None, 0.5, unconstrained)
    assert [link[:3] for link in unconstrained[0].links] == [(0, 1, 0), (0, 1, 1), (1, 0, 0),
                                                             (1, 0, 1)]  # fmt: skip


def fire_everywhere(model: ITERForRelationExtraction) -> None:
    """Shift every head's logits far up, so all starts, spans and links fire."""
    for head in (model.start_head, model.span_head, model.link_head):
        original = head._output
        head._output = lambda x, _original=original: _original(x) + 30.0


def test_decoding_keeps_exactly_the_unconstrained_links_that_fit_the_signatures(
    minilm_tokenizer,
):
    model = tiny_model(minilm_tokenizer, seed=3).eval()
    fire_everywhere(model)
    batch = minilm_tokenizer(
        ["John Smith works for Acme in Paris .", "Mary met Bob ."], return_tensors="pt",
        padding=True,
    )  # fmt: skip
    masks = model._boundary_masks(batch["input_ids"], batch["attention_mask"])
    with torch.no_grad():
        free = model.decode(batch["input_ids"], batch["attention_mask"], *masks)
        model.config.relation_signatures = SIGNATURES
        constrained = model.decode(batch["input_ids"], batch["attention_mask"], *masks)
    allowed = {tuple(triple) for triple in SIGNATURES}

    def typed(sentence: SentenceDecoding) -> set[tuple]:
        names = CONLL04_ENTITIES
        return {(h, t, r, names[sentence.spans[h][2]], CONLL04_RELATIONS[r],
                 names[sentence.spans[t][2]]) for h, t, r, _ in sentence.links}  # fmt: skip

    for before, after in zip(free, constrained, strict=True):
        assert before.spans == after.spans
        kept = {link for link in typed(before) if (link[3], link[4], link[5]) in allowed}
        assert typed(after) == kept
    assert sum(len(s.links) for s in free) > sum(len(s.links) for s in constrained) > 0


def test_signatures_survive_save_and_load(minilm_tokenizer, tmp_path):
    model = tiny_model(minilm_tokenizer, relation_signatures=SIGNATURES)
    model.save_pretrained(tmp_path / "model")
    loaded = ITERForRelationExtraction.from_pretrained(tmp_path / "model")
    assert loaded.config.relation_signatures == SIGNATURES


@pytest.mark.parametrize(
    ("signatures", "message"),
    [
        ([["Peop", "Works_For", "Org"]], "unknown types ['Works_For']"),
        ([["Person", "Work_For", "Org"]], "unknown types ['Person']"),
        ([["Peop", "Work_For"]], "each entry is [head type, relation type, tail type]"),
        (["Peop-Work_For-Org"], "each entry is [head type, relation type, tail type]"),
        ([5], "each entry is [head type, relation type, tail type]; got 5"),
        (5, "a list of [head type, relation type, tail type]; got 5"),
        ("Peop Work_For Org", "a list of [head type, relation type, tail type]"),
    ],
)
def test_bad_signatures_stop_with_one_clear_line(signatures, message):
    with pytest.raises(ConfigError) as caught:
        ITERConfig(
            entity_types=CONLL04_ENTITIES,
            relation_types=CONLL04_RELATIONS,
            relation_signatures=signatures,
        )
    assert message in str(caught.value)


def test_training_config_turns_the_constraint_on_from_the_training_documents():
    from iter.data.registry import DatasetSpec, compose_config
    from iter.training.run import build_model

    overrides = [f"model.transformer={minilm_path()}", "model.signature_constraint=true"]
    cfg = compose_config(["dataset=conll04", *overrides])
    peop, org = Entity(0, 1, "Peop"), Entity(3, 4, "Org")
    train = [Document(tuple("abcd"), (peop, org), (Relation(peop, org, "Work_For"),))]
    model = build_model(cfg, DatasetSpec.from_config(cfg.dataset), train)
    assert model.config.relation_signatures == [["Peop", "Work_For", "Org"]]
    # MiniLM on CoNLL04 turns the constraint on through configs/model_dataset/; switched
    # off, or without that file, the model carries no signatures.
    for off in (["model.signature_constraint=false"], ["~model_dataset"]):
        plain = compose_config(["dataset=conll04", overrides[0], *off])
        assert build_model(plain, DatasetSpec.from_config(plain.dataset), train).config \
            .relation_signatures is None  # fmt: skip
