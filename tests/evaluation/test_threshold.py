"""Choosing the link threshold on dev: the grid, the smoothing, the tie rule, and one
decoding that gives exactly what decoding at each threshold gives."""

from __future__ import annotations

import math

import pytest
import torch

from iter.evaluation.threshold import (
    check_grid,
    choose,
    filter_links,
    search_link_threshold,
    smooth,
)
from iter.inference.documents import predict_documents, predict_scored
from tests.conftest import tiny_model
from tests.modeling.test_model import toy_documents


def test_smooth_averages_each_score_with_its_neighbours():
    assert smooth([0.0, 0.3, 0.6, 0.0]) == pytest.approx([0.15, 0.3, 0.3, 0.3])
    assert smooth([0.5]) == [0.5]


def test_choose_prefers_a_broad_optimum_over_a_lone_peak():
    grid = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    scores = [0.50, 0.50, 0.62, 0.50, 0.58, 0.59, 0.55]
    # The best raw score (0.62 at 0.3) stands alone; 0.6 sits amid good neighbours.
    smoothed = smooth(scores)
    assert grid[scores.index(max(scores))] == 0.3
    assert choose(grid, smoothed, previous=0.5) == 0.6


def test_choose_breaks_a_tie_towards_the_previous_threshold():
    grid = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    flat = [0.4] * len(grid)
    assert choose(grid, flat, previous=0.5) == 0.5
    assert choose(grid, flat, previous=0.25) == 0.2  # equally near 0.2 and 0.3: the lower


@pytest.mark.parametrize("grid", [[], [0.0, 0.5], [0.5, 1.0], [-0.1]])
def test_a_grid_outside_the_open_unit_interval_is_refused(grid):
    with pytest.raises(ValueError, match=r"grid is empty|must be in"):
        check_grid(grid)


def varied_link_logits(model):
    """Link logits spread over (-4, 4), each a fixed function of its (head, tail, type) span
    positions, so that every threshold of the grid keeps a different set of links."""
    real = model.link_logits

    def link_logits(hidden, spans, span_mask=None):
        shape = real(hidden, spans, span_mask).shape
        heads = spans[:, :, None, None, 0].float()
        tails = spans[:, None, :, None, 1].float()
        types = torch.arange(shape[-1], dtype=torch.float)[None, None, None, :]
        return 4 * torch.sin(1.7 * heads + 2.9 * tails + 1.3 * types + 0.5)

    return link_logits


@pytest.mark.parametrize("symmetric", [(), ("Live_In",)])
def test_one_decoding_filtered_equals_decoding_at_each_threshold(
    symmetric, minilm_tokenizer, monkeypatch
):
    model = tiny_model(minilm_tokenizer, symmetric=symmetric, seed=3)
    monkeypatch.setattr(model, "link_logits", varied_link_logits(model))
    docs = toy_documents()
    grid = (0.1, 0.3, 0.5, 0.7, 0.9)
    lowest = predict_scored(model, docs, link_threshold=grid[0])
    counts = []
    for t in grid:
        model.config.link_threshold = t
        direct = predict_documents(model, docs)
        filtered = [filter_links(s, t) for s in lowest]
        assert [set(d.relations) for d in direct] == [set(s.relations) for s in filtered]
        counts.append(sum(len(d.relations) for d in direct))
    # The test means something only if the thresholds keep different links.
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1] > 0

    def predicted_relations(result):
        return result.re.micro.tp + result.re.micro.fp

    model.config.link_threshold = 0.5
    search = search_link_threshold(model, docs, predicted_relations, grid=grid)
    assert list(search.scores.values()) == counts
    # The most links win this "score": the lowest threshold, and the model keeps its own.
    assert search.threshold == 0.1 and search.previous == 0.5
    assert model.config.link_threshold == 0.5
    assert math.isclose(search.smoothed[0.1], (counts[0] + counts[1]) / 2)
