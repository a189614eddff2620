"""The model on tiny random encoders: every family, save/load, generate, and overfitting."""

from __future__ import annotations

import pytest
import torch

from iter import ITER, ITERConfig, ITERForRelationExtraction
from iter.data.collate import iterate_batches
from iter.data.document import Document, Entity, Relation
from iter.data.encoding import encode_documents
from iter.inference.documents import predict_documents
from tests.conftest import sentencepiece_style_tokenizer, tiny_model

SENTENCE = "John Wilkes Booth , who assassinated President Lincoln , was an actor ."


def toy_documents() -> list[Document]:
    words = tuple(SENTENCE.split())
    booth, lincoln = Entity(0, 3, "Peop"), Entity(7, 8, "Peop")
    second = tuple(["Mary", "Smith", "works", "for", "Acme", "Corporation", "in", "Boston", "."])
    mary, acme, boston = Entity(0, 2, "Peop"), Entity(4, 6, "Org"), Entity(7, 8, "Loc")
    return [
        Document(words, (booth, lincoln), (Relation(booth, lincoln, "Kill"),)),
        Document(
            second,
            (mary, acme, boston),
            (Relation(mary, acme, "Work_For"), Relation(acme, boston, "OrgBased_In")),
        ),
    ]


def tokenizer_for(family, minilm_tokenizer):
    return (
        minilm_tokenizer
        if family == "bert"
        else sentencepiece_style_tokenizer("t5" if family == "t5" else "deberta")
    )


@pytest.mark.parametrize("family", ["bert", "deberta", "t5"])
def test_forward_backward_and_generate(family, minilm_tokenizer):
    tokenizer = tokenizer_for(family, minilm_tokenizer)
    model = tiny_model(tokenizer, family)
    docs = toy_documents()
    encoded, _ = encode_documents(
        docs, tokenizer, model.config.entity_types, model.config.relation_types, 128
    )
    batch = next(iterate_batches(encoded.to_list(), 2, tokenizer.pad_token_id))
    output = model(**batch.model_inputs("cpu"))
    for loss in (output.start_loss, output.span_loss, output.link_loss):
        assert torch.isfinite(loss) and loss > 0
    output.loss.backward()
    assert model.encoder.get_input_embeddings().weight.grad is not None
    assert model.link_head.gate_inner.weight.grad.abs().sum() > 0

    encodings = tokenizer(SENTENCE, return_tensors="pt")
    generated = model.generate(encodings["input_ids"], attention_mask=encodings["attention_mask"])
    assert len(generated.entities) == 1 and len(generated.links) == 1
    for entity in generated.entities[0]:
        assert entity.type in model.config.entity_types
        assert 0 <= entity.start < entity.end <= encodings["input_ids"].size(1)
    for link in generated.links[0]:
        assert link.head in generated.entities[0] and link.tail in generated.entities[0]

    # Decoding runs in inference mode; training must go on after it (as after each dev
    # evaluation) without an inference tensor cached anywhere in the encoder.
    model.zero_grad()
    model(**batch.model_inputs("cpu")).loss.backward()
    assert model.span_head.gate_inner.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("family", ["bert", "deberta", "t5"])
def test_save_and_load_round_trip(family, minilm_tokenizer, tmp_path):
    tokenizer = tokenizer_for(family, minilm_tokenizer)
    model = tiny_model(tokenizer, family, symmetric=("Kill",), nesting_depth=2).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = ITERForRelationExtraction.from_pretrained(tmp_path).eval()
    assert loaded.config.entity_types == model.config.entity_types
    assert loaded.config.symmetric_relation_types == ["Kill"]
    assert loaded.config.nesting_depth == 2
    assert loaded.tokenizer is not None
    assert loaded.tokenizer(SENTENCE)["input_ids"] == tokenizer(SENTENCE)["input_ids"]
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, msg=name)
    ids = tokenizer(SENTENCE, return_tensors="pt")
    with torch.no_grad():
        a = model.encode(ids["input_ids"], ids["attention_mask"])
        b = loaded.encode(ids["input_ids"], ids["attention_mask"])
    torch.testing.assert_close(a, b)
    # Everything decoding reads must survive loading, not just the weights: a symmetric-type
    # mask kept as a non-persistent buffer once came back as uninitialised memory.
    expected = [name == "Kill" for name in model.config.relation_types]
    assert loaded.symmetric_relation_mask(torch.device("cpu")).tolist() == expected
    spans = torch.tensor([[[1, 1], [2, 3], [4, 4]]])
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.link_logits(b, spans), model.link_logits(a, spans), msg="link logits"
        )


def test_entities_only_model(minilm_tokenizer, tmp_path):
    model = tiny_model(minilm_tokenizer, relation_types=())
    assert model.link_head is None
    model = ITER(model.config)
    model.tokenizer = minilm_tokenizer
    model.save_pretrained(tmp_path)
    loaded = ITER.from_pretrained(tmp_path)
    out = loaded.generate(
        **{
            k: v
            for k, v in minilm_tokenizer(SENTENCE, return_tensors="pt").items()
            if k != "token_type_ids"
        }
    )
    assert out.links == [[]]
    with pytest.raises(ValueError, match="entities only"):
        ITER(
            ITERConfig(
                encoder_config=model.config.encoder_config, entity_types=["A"], relation_types=["r"]
            )
        )


def test_config_rejects_unknown_symmetric_type():
    with pytest.raises(ValueError, match="not relation types"):
        ITERConfig(entity_types=["A"], relation_types=["r"], symmetric_relation_types=["s"])


@pytest.mark.parametrize(
    ("family", "options"),
    [("bert", {}), ("t5", {}), ("bert", {"link_context": "max", "link_type_embedding": True}),
     ("bert", {"inverse_link_types": True}),
     ("bert", {"span_representation": "max_pool_width", "link_context": "max"}),
     ("bert", {"link_distance": True}), ("bert", {"link_context": "max", "link_distance": True})],
)  # fmt: skip
def test_overfits_two_sentences_exactly(family, options, minilm_tokenizer):
    """Losses and decoder agree: a model driven to zero loss decodes the gold annotations
    (also with the options beyond the paper, whose link step reads more than the spans)."""
    tokenizer = tokenizer_for(family, minilm_tokenizer)
    model = tiny_model(tokenizer, family, seed=1, **options)
    model.config.dropout = 0.0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    docs = toy_documents()
    encoded, _ = encode_documents(
        docs, tokenizer, model.config.entity_types, model.config.relation_types, 128
    )
    batch = next(iterate_batches(encoded.to_list(), 2, tokenizer.pad_token_id))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    # A loss near zero still allows one wrong pair among many, and how soon each pair
    # settles depends on the machine's float kernels (and a summed loss under Adam at this
    # rate moves in bursts); so once the loss (a sum over some hundreds of elements) is
    # small, check the decoder every few steps and stop at the first exact decoding.
    exact = False
    for step in range(1200):
        model.train()
        loss = model(**batch.model_inputs("cpu")).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.05 and step % 10 == 0:
            predictions = predict_documents(model, docs)
            exact = all(
                set(p.entities) == set(g.entities) and set(p.relations) == set(g.relations)
                for g, p in zip(docs, predictions, strict=True)
            )
            if exact:
                break
    assert loss.item() < 0.05, f"not overfitted after {step + 1} steps: loss {loss.item()}"
    predictions = predict_documents(model, docs)
    for gold, predicted in zip(docs, predictions, strict=True):
        assert set(predicted.entities) == set(gold.entities)
        assert set(predicted.relations) == set(gold.relations)


def test_link_scoring_in_chunks_matches_scoring_at_once(minilm_tokenizer, monkeypatch):
    # Inference bounds the [B, S, S, 2F] pair buffer by scoring heads in chunks; an untrained
    # model that emits a span at every position once exhausted 24 GiB without it.
    import iter.modeling.model as model_module

    model = tiny_model(minilm_tokenizer).eval()
    hidden = torch.randn(2, 12, model.config.encoder_config["hidden_size"])
    spans = torch.stack([torch.arange(12), torch.arange(12)], dim=-1).expand(2, -1, -1)
    with torch.no_grad():
        at_once = model.link_logits(hidden, spans)
        monkeypatch.setattr(model_module, "PAIR_CHUNK_ELEMENTS", 2 * 12 * 5 * 2 * 16)
        chunked = model.link_logits(hidden, spans)
    torch.testing.assert_close(chunked, at_once)
    assert chunked.shape == (2, 12, 12, len(model.config.relation_types))


@pytest.mark.parametrize("chunk_elements", [None, 16 * 2 * 3])
def test_masked_link_scoring_scores_only_pairs_of_two_real_spans(
    chunk_elements, minilm_tokenizer, monkeypatch
):
    """Decoding scores the valid pairs as a flat list: the same logits as the padded
    scoring where two different real spans meet, -inf (never fires) elsewhere."""
    import iter.modeling.model as model_module

    model = tiny_model(minilm_tokenizer).eval()
    hidden = torch.randn(2, 12, model.config.encoder_config["hidden_size"])
    spans = torch.stack([torch.arange(12), torch.arange(12)], dim=-1).expand(2, -1, -1)
    span_mask = torch.zeros(2, 12, dtype=torch.bool)
    span_mask[0, :7] = True
    span_mask[1, :3] = True
    if chunk_elements:
        monkeypatch.setattr(model_module, "PAIR_CHUNK_ELEMENTS", chunk_elements)
    with torch.no_grad():
        padded = model.link_logits(hidden, spans)
        masked = model.link_logits(hidden, spans, span_mask)
    valid = span_mask[:, :, None] & span_mask[:, None, :] & ~torch.eye(12, dtype=torch.bool)
    torch.testing.assert_close(masked[valid], padded[valid])
    assert torch.isneginf(masked[~valid]).all()
    assert int(valid.sum()) == 7 * 6 + 3 * 2


@pytest.mark.parametrize(("depth", "representation"), [(1, None), (2, None), (1, "max_pool_width")])
def test_decoding_alone_or_in_a_padded_batch_gives_the_same_predictions(
    depth, representation, minilm_tokenizer
):
    """Decoding has shortcuts for a single sentence (no padding slots) and drops links that
    touch padding in a batch; both must give each sentence exactly its own predictions."""
    model = tiny_model(
        minilm_tokenizer, symmetric=["Kill"], nesting_depth=depth,
        span_representation=representation,
    ).eval()  # fmt: skip
    words = [SENTENCE.split(), ["Mary", "works", "."], SENTENCE.split()[:6]]
    documents = [Document(tuple(w), (), ()) for w in words]
    encoded, _ = encode_documents(
        documents, minilm_tokenizer, model.config.entity_types, model.config.relation_types, 128
    )
    segments = encoded.to_list()

    def decode(batch):
        inputs = (batch.input_ids, batch.attention_mask, batch.start_mask, batch.end_mask)
        return {
            index: (decoded.spans, decoded.links)
            for index, decoded in zip(batch.doc_index, model.decode(*inputs), strict=True)
        }

    together = decode(next(iterate_batches(segments, 3, minilm_tokenizer.pad_token_id)))
    alone = {}
    for batch in iterate_batches(segments, 1, minilm_tokenizer.pad_token_id):
        alone.update(decode(batch))
    assert together.keys() == alone.keys() == {0, 1, 2}
    # The untrained model emits spans and links, so the comparison is not between empty lists.
    assert sum(len(links) for _, links in together.values()) > 0
    for index, (spans, links) in together.items():
        alone_spans, alone_links = alone[index]
        assert [s[:3] for s in spans] == [s[:3] for s in alone_spans]
        assert [link[:3] for link in links] == [link[:3] for link in alone_links]
        for a, b in zip(spans + links, alone_spans + alone_links, strict=True):
            assert a[3] == pytest.approx(b[3], abs=1e-5)
        for head, tail, relation, _ in links:
            assert head != tail and max(head, tail) < len(spans)
            if model.config.relation_types[relation] == "Kill":
                assert head < tail  # symmetric: once per unordered pair


def test_pooled_spans_survive_saving_and_score_links_from_the_whole_span(
    minilm_tokenizer, tmp_path
):
    """``span_representation=max_pool_width``: the link step reads each span's max-pooled
    states plus its width's embedding, and a saved model scores links the same."""
    model = tiny_model(minilm_tokenizer, span_representation="max_pool_width").eval()
    assert model.span_width_embedding is not None
    ids = minilm_tokenizer(SENTENCE, return_tensors="pt")
    spans = torch.tensor([[[1, 3], [5, 5], [6, 9]]])
    with torch.no_grad():
        hidden = model.encode(ids["input_ids"], ids["attention_mask"])
        states = model.span_states(hidden, spans)
        width = model.span_width_embedding.weight
        expected = torch.stack([hidden[0, 1:4].max(0).values + width[3],
                                hidden[0, 5] + width[1], hidden[0, 6:10].max(0).values + width[4]])
        torch.testing.assert_close(states[0], expected)
        model.save_pretrained(tmp_path)
        loaded = ITERForRelationExtraction.from_pretrained(tmp_path).eval()
        assert loaded.config.span_representation == "max_pool_width"
        torch.testing.assert_close(
            loaded.link_logits(hidden, spans), model.link_logits(hidden, spans)
        )
    # The published model's span states are the end states alone.
    plain = tiny_model(minilm_tokenizer).eval()
    assert plain.span_width_embedding is None
    with torch.no_grad():
        torch.testing.assert_close(plain.span_states(hidden, spans)[0], hidden[0, [3, 5, 9]])


def test_symmetric_relation_mask_follows_the_config(minilm_tokenizer):
    # The mask is cached per device for decoding; editing the config must not leave it stale.
    model = tiny_model(minilm_tokenizer, symmetric=["Kill"])
    cpu = torch.device("cpu")
    kill = model.config.relation_types.index("Kill")
    assert model.symmetric_relation_mask(cpu).nonzero().flatten().tolist() == [kill]
    model.config.symmetric_relation_types = []
    assert not model.symmetric_relation_mask(cpu).any()


@pytest.mark.parametrize("family", ["bert", "deberta", "t5"])
def test_loads_and_decodes_in_bfloat16(family, minilm_tokenizer, tmp_path):
    # The encoder's saved config names float32; it once overrode the dtype asked for, leaving
    # a float32 encoder beside bfloat16 heads, and the first matmul between them failed.
    tokenizer = tokenizer_for(family, minilm_tokenizer)
    model = tiny_model(tokenizer, family)
    model.config.encoder_config["dtype"] = "float32"  # as a pretrained encoder's config has
    model.save_pretrained(tmp_path)
    loaded = ITERForRelationExtraction.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    assert {parameter.dtype for parameter in loaded.parameters()} == {torch.bfloat16}
    encodings = tokenizer(SENTENCE, return_tensors="pt")
    generated = loaded.generate(encodings["input_ids"], attention_mask=encodings["attention_mask"])
    assert len(generated.entities) == 1
    assert all(0.0 <= entity.score <= 1.0 for entity in generated.entities[0])


def test_link_type_embedding_reads_the_predicted_types(minilm_tokenizer):
    """With the option on, the link step's spans carry their types: the same positions with
    another type give other link logits; positions alone are refused."""
    model = tiny_model(minilm_tokenizer, link_type_embedding=True).eval()
    docs = toy_documents()
    encoded, _ = encode_documents(
        docs, minilm_tokenizer, model.config.entity_types, model.config.relation_types, 128
    )
    batch = next(iterate_batches(encoded.to_list(), 2, minilm_tokenizer.pad_token_id))
    model.train()
    model(**batch.model_inputs("cpu")).loss.backward()
    assert model.link_type_embedding.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        hidden = model.encode(batch.input_ids, batch.attention_mask)
        spans = batch.gold_spans
        retyped = spans.clone()
        retyped[..., 2] = (retyped[..., 2] + 1) % len(model.config.entity_types)
        assert not torch.allclose(model.link_logits(hidden, spans),
                                  model.link_logits(hidden, retyped))  # fmt: skip
        with pytest.raises(ValueError, match="reads entity types"):
            model.link_logits(hidden, spans[..., :2])
    predict_documents(model, docs)  # decoding passes the predicted types through


def test_forward_without_labels_returns_each_steps_logits(minilm_tokenizer):
    """Hugging Face style: model(**tokenizer(text)) answers with logits, not a TypeError;
    they are the logits decoding reads, so thresholding them gives generate()'s output."""
    from iter.modeling.model import ITERLogits, ITEROutput

    model = tiny_model(minilm_tokenizer, symmetric=["Kill"]).eval()
    encodings = minilm_tokenizer([SENTENCE, "Mary works ."], return_tensors="pt", padding=True)
    with torch.no_grad():
        output = model(**encodings)
    assert isinstance(output, ITERLogits)
    batch, length = encodings["input_ids"].shape
    assert output.start_logits.shape == (batch, length)
    # [CLS] (position 0) and padding can never start a span.
    assert torch.isneginf(output.start_logits[:, 0]).all()
    assert torch.isneginf(output.start_logits[1][encodings["attention_mask"][1] == 0]).all()
    assert output.span_pairs.shape == (output.span_logits.size(0), 3)
    assert output.span_logits.size(-1) == len(model.config.entity_types)
    generated = model.generate(encodings["input_ids"], attention_mask=encodings["attention_mask"])
    assert int(output.span_mask.sum()) == sum(len(e) for e in generated.entities) > 0
    if output.link_logits is not None:
        assert output.link_logits.shape[-1] == len(model.config.relation_types)
    assert "start_logits" in output and output.to_tuple()[0] is output.start_logits

    docs = toy_documents()
    encoded, _ = encode_documents(
        docs, minilm_tokenizer, model.config.entity_types, model.config.relation_types, 128
    )
    batch_inputs = next(iterate_batches(encoded.to_list(), 2, minilm_tokenizer.pad_token_id))
    assert isinstance(model(**batch_inputs.model_inputs("cpu")), ITEROutput)


def test_predict_threshold_decides_which_links_fire(minilm_tokenizer):
    model = tiny_model(minilm_tokenizer).eval()
    text = "John Wilkes Booth , who assassinated President Lincoln , was an actor ."
    counts = [
        sum(len(p.relations) for p in model.predict([text], threshold=t)) for t in (0.0, 0.99)
    ]
    assert counts[0] > counts[1]
    assert counts[0] == sum(len(p.relations) for p in model.predict(text, threshold=0.0))
    with pytest.raises(ValueError, match="threshold must be a probability"):
        model.predict(text, threshold=1.5)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        model.predict(text, batch_size=0)


def test_inverse_link_types_are_trained_but_never_predicted(minilm_tokenizer, tmp_path):
    from iter import ITERForRelationExtraction

    model = tiny_model(minilm_tokenizer, inverse_link_types=True).eval()
    relations = len(model.config.relation_types)
    assert model.link_head.out.weight.size(0) == 2 * relations
    docs = toy_documents()
    encoded, _ = encode_documents(
        docs, minilm_tokenizer, model.config.entity_types, model.config.relation_types, 128
    )
    batch = next(iterate_batches(encoded.to_list(), 2, minilm_tokenizer.pad_token_id))
    with torch.no_grad():
        hidden = model.encode(batch.input_ids, batch.attention_mask)
        logits = model.link_logits(hidden, batch.gold_spans, batch.gold_span_mask)
        assert logits.size(-1) == relations
        unlabelled = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        assert unlabelled.link_logits.size(-1) == relations
    model.save_pretrained(tmp_path)
    loaded = ITERForRelationExtraction.from_pretrained(tmp_path).eval()
    assert loaded.config.inverse_link_types
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.link_logits(hidden, batch.gold_spans, batch.gold_span_mask), logits
        )
