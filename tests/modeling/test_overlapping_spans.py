"""model.drop_overlapping_spans: on flat data, decoding keeps only the best-scored of
overlapping spans, and links only the spans it keeps."""

from __future__ import annotations

import torch

from iter.data.collate import iterate_batches
from iter.data.document import Document
from iter.data.encoding import encode_documents
from iter.modeling.candidates import SpanCandidates
from iter.modeling.decoding import decode_spans, non_overlapping
from tests.conftest import minilm_path, tiny_model
from tests.modeling.test_model import SENTENCE


def test_the_best_span_wins_each_overlap_and_sentences_do_not_meet():
    # (sentence, start, end inclusive, type)
    rows = [
        (0, 1, 3, 0),  # 0.6: overlaps the 0.9 span at position 3
        (0, 3, 4, 1),  # 0.9: kept
        (0, 5, 5, 0),  # 0.4: touches nothing kept (4 < 5), kept
        (0, 4, 6, 2),  # 0.8: overlaps the 0.9 span at 4
        (1, 1, 3, 0),  # 0.1: the first's positions, in another sentence; loses to the next
        (1, 2, 2, 1),  # 0.2: inside the span above and better: kept
    ]
    scores = [0.6, 0.9, 0.4, 0.8, 0.1, 0.2]
    assert non_overlapping(rows, scores) == [1, 2, 5]
    assert non_overlapping([], []) == []


def test_decode_spans_drops_overlaps_only_when_asked():
    # Two sentences; candidates (batch, start, end) with type logits [P, 2].
    pairs = SpanCandidates(
        batch=torch.tensor([0, 0, 0, 1]),
        start=torch.tensor([1, 2, 5, 1]),
        end=torch.tensor([3, 4, 6, 2]),
        ends=torch.zeros(2, 8, dtype=torch.bool),
        start_row=torch.arange(4),
        end_row=None,
    )
    logits = torch.tensor([[3.0, -9.0], [-9.0, 5.0], [2.0, -9.0], [4.0, -9.0]])
    spans, mask, sentences = decode_spans(logits, pairs, 2)
    assert [s[:3] for s in sentences[0].spans] == [(1, 3, 0), (2, 4, 1), (5, 6, 0)]
    spans, mask, sentences = decode_spans(logits, pairs, 2, drop_overlaps=True)
    # (1, 3) overlaps the better (2, 4) and goes; the padded rows follow the kept spans.
    assert [s[:3] for s in sentences[0].spans] == [(2, 4, 1), (5, 6, 0)]
    assert [s[:3] for s in sentences[1].spans] == [(1, 2, 0)]
    assert spans.tolist() == [[[2, 4, 1], [5, 6, 0]], [[1, 2, 0], [0, 0, 0]]]
    assert mask.tolist() == [[True, True], [True, False]]


def _decode(model, minilm_tokenizer):
    words = [SENTENCE.split(), ["Mary", "Smith", "works", "for", "Acme", "Corporation", "."]]
    documents = [Document(tuple(w), (), ()) for w in words]
    encoded, _ = encode_documents(
        documents, minilm_tokenizer, model.config.entity_types, model.config.relation_types, 128
    )
    batch = next(iterate_batches(encoded.to_list(), 2, minilm_tokenizer.pad_token_id))
    return model.decode(batch.input_ids, batch.attention_mask, batch.start_mask, batch.end_mask)


def _overlap(a, b) -> bool:
    return not (a[1] < b[0] or b[1] < a[0])


def test_the_model_links_only_the_spans_it_keeps(minilm_tokenizer):
    model = tiny_model(minilm_tokenizer).eval()
    everything = _decode(model, minilm_tokenizer)
    model.config.drop_overlapping_spans = True
    kept = _decode(model, minilm_tokenizer)
    # The untrained model emits overlapping spans, so the option has something to drop.
    assert any(
        _overlap(a, b) for s in everything for i, a in enumerate(s.spans) for b in s.spans[i + 1 :]
    )
    for full, sentence in zip(everything, kept, strict=True):
        spans = [s[:3] for s in sentence.spans]
        assert set(spans) <= {s[:3] for s in full.spans}
        assert not any(_overlap(a, b) for i, a in enumerate(spans) for b in spans[i + 1 :])
        for dropped in full.spans:
            if dropped[:3] not in spans:  # it lost to a kept span at least as good
                assert any(_overlap(dropped, k) and k[3] >= dropped[3] for k in sentence.spans)
        # The links are those of the full decoding between two kept spans.
        expected = {
            (full.spans[h][:3], full.spans[t][:3], r)
            for h, t, r, _ in full.links
            if full.spans[h][:3] in spans and full.spans[t][:3] in spans
        }
        found = {(sentence.spans[h][:3], sentence.spans[t][:3], r) for h, t, r, _ in sentence.links}
        assert found == expected
        assert full.spans  # the sentence had spans to choose from


def test_nested_data_keeps_its_overlaps(minilm_tokenizer):
    model = tiny_model(minilm_tokenizer, nesting_depth=3, drop_overlapping_spans=True).eval()
    assert not model.config.drops_overlaps
    model.config.drop_overlapping_spans = False
    assert not model.config.drops_overlaps
    assert tiny_model(minilm_tokenizer, drop_overlapping_spans=True).config.drops_overlaps


def test_the_option_reaches_the_model_and_its_saved_config(tmp_path):
    from iter.data.registry import DatasetSpec, compose_config
    from iter.modeling.model import ITERForRelationExtraction
    from iter.training.run import build_model

    transformer = f"model.transformer={minilm_path()}"
    # MiniLM's config turns the option on (a measured departure); it reaches the model and
    # survives save/load.
    cfg = compose_config(["dataset=conll04", transformer])
    assert cfg.model.drop_overlapping_spans
    model = build_model(cfg, DatasetSpec.from_config(cfg.dataset))
    assert model.config.drops_overlaps
    model.save_pretrained(tmp_path)
    assert ITERForRelationExtraction.from_pretrained(tmp_path).config.drops_overlaps
    off = compose_config(["dataset=conll04", transformer, "model.drop_overlapping_spans=false"])
    assert not build_model(off, DatasetSpec.from_config(off.dataset)).config \
        .drop_overlapping_spans  # fmt: skip
    # The other encoders' configs train and decode ITER as published.
    for name in ("bert-base", "deberta-v3-large", "flan-t5-large"):
        assert not compose_config(["dataset=conll04", f"model={name}"]).model.drop_overlapping_spans
