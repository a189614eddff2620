"""Bootstrap intervals and paired comparisons: exact on the whole set, sane on resamples."""

from __future__ import annotations

import numpy as np
import pytest

from iter.data.document import Document, Entity, Relation
from iter.evaluation import evaluate
from iter.evaluation.bootstrap import compare, confidence_intervals, count_table
from iter.tasks import AVERAGES, TASKS

WORDS = ("Mary", "Smith", "works", "for", "Acme", "Corp", "in", "Boston", ".")
MARY, ACME, BOSTON = Entity(0, 2, "Peop"), Entity(4, 6, "Org"), Entity(7, 8, "Loc")
WORK_FOR = Relation(MARY, ACME, "Work_For")
BASED_IN = Relation(ACME, BOSTON, "OrgBased_In")
NEAR = Relation(BOSTON, ACME, "Near")  # symmetric below
GOLD_DOC = Document(WORDS, (MARY, ACME, BOSTON), (WORK_FOR, BASED_IN, NEAR))
ENTITY_TYPES = ("Peop", "Org", "Loc", "Other")  # "Other" occurs nowhere: a macro row of 0
RELATION_TYPES = ("Work_For", "OrgBased_In", "Near")
SYMMETRIC = ("Near",)

# Predictions of varying quality, among them a type outside the known ones ("Misc").
VARIANTS = (
    GOLD_DOC.with_annotations(
        (MARY, ACME, BOSTON), (WORK_FOR, BASED_IN, Relation(ACME, BOSTON, "Near"))
    ),
    GOLD_DOC.with_annotations((MARY, ACME), (WORK_FOR,)),
    GOLD_DOC.with_annotations((Entity(0, 1, "Peop"), ACME, BOSTON), (BASED_IN,)),
    GOLD_DOC.with_annotations((MARY, Entity(4, 6, "Misc"), BOSTON), ()),
    GOLD_DOC.with_annotations((), ()),
    GOLD_DOC.with_annotations((MARY, ACME, BOSTON), (Relation(ACME, MARY, "Work_For"),)),
)  # fmt: skip


def documents(pattern: list[int]) -> tuple[list[Document], list[Document]]:
    """Gold and predicted documents: one copy of the gold sentence per entry of ``pattern``,
    predicted as that variant."""
    return [GOLD_DOC] * len(pattern), [VARIANTS[i] for i in pattern]


def table_of(pattern: list[int]):
    gold, predicted = documents(pattern)
    return count_table(gold, predicted, SYMMETRIC, ENTITY_TYPES, RELATION_TYPES)


PATTERN = [0, 1, 2, 3, 4, 5, 0, 0, 1, 2, 5, 3]


def test_whole_set_scores_equal_evaluate():
    gold, predicted = documents(PATTERN)
    result = evaluate(gold, predicted, SYMMETRIC, ENTITY_TYPES, RELATION_TYPES)
    table = table_of(PATTERN)
    assert table.num_documents == len(PATTERN)
    assert table.types["ner"] == ("Peop", "Org", "Loc", "Other", "Misc")
    for task in TASKS:
        assert table.types[task] == tuple(result.task(task).per_type)
        assert table.counts[task].sum(axis=(0, 1)).tolist() == [
            result.task(task).micro.tp, result.task(task).micro.fp, result.task(task).micro.fn,
        ]  # fmt: skip
        for average in AVERAGES:
            assert float(table.f1(task, average)) == pytest.approx(result.main_f1(task, average))


def test_weights_score_the_drawn_documents():
    table = table_of(PATTERN)
    ones = np.ones((1, len(PATTERN)), dtype=np.int64)
    assert table.f1("re_plus", "micro", ones)[0] == pytest.approx(table.f1("re_plus", "micro"))
    # Drawing document 1 (Mary and Acme found, Work_For found) twice and nothing else:
    # NER tp 2 fn 1 per copy -> F1 4 / (4 + 2) = 0.8; relations tp 1 fn 2 -> 2 / (2 + 2) = 0.5.
    twice = np.zeros((1, len(PATTERN)), dtype=np.int64)
    twice[0, 1] = 2
    assert table.f1("ner", "micro", twice)[0] == pytest.approx(0.8)
    assert table.f1("re_plus", "micro", twice)[0] == pytest.approx(0.5)
    # Macro over the 5 NER rows: Peop 1, Org 1, Loc 0, Other 0, Misc 0.
    assert table.f1("ner", "macro", twice)[0] == pytest.approx(0.4)


def test_intervals_hold_the_estimate_and_repeat_with_the_seed():
    table = table_of(PATTERN * 5)
    intervals = confidence_intervals(table, samples=300, seed=3)
    assert [(i.task, i.average) for i in intervals] == [(t, a) for t in TASKS for a in AVERAGES]
    for interval in intervals:
        assert interval.low <= interval.estimate <= interval.high
        assert interval.high - interval.low > 1  # these documents differ a lot
    assert intervals == confidence_intervals(table, samples=300, seed=3)
    assert intervals != confidence_intervals(table, samples=300, seed=4)


def test_identical_documents_give_a_point_interval():
    table = table_of([1] * 20)
    for interval in confidence_intervals(table, samples=50):
        assert interval.low == pytest.approx(interval.estimate)
        assert interval.high == pytest.approx(interval.estimate)


def test_more_documents_narrow_the_interval():
    def width(copies: int) -> float:
        (interval,) = confidence_intervals(table_of(PATTERN * copies), tasks=["re_plus"])[:1]
        return interval.high - interval.low

    assert width(20) < 0.6 * width(2)


def test_same_predictions_differ_by_nothing():
    table = table_of(PATTERN)
    for diff in compare([table], [table], samples=200):
        assert diff.delta == 0 and diff.low == 0 and diff.high == 0
        assert diff.p_value == 1


def test_a_better_run_is_told_apart_from_a_worse_one():
    worse = table_of(PATTERN * 4)
    better = table_of([0 if i % 3 else v for i, v in enumerate(PATTERN * 4)])
    (ner_micro, *_rest) = compare([worse], [better], samples=500)
    assert ner_micro.task == "ner" and ner_micro.average == "micro"
    assert ner_micro.a == pytest.approx(100 * float(worse.f1("ner", "micro")))
    assert ner_micro.b == pytest.approx(100 * float(better.f1("ner", "micro")))
    assert ner_micro.delta > 0 and ner_micro.low > 0
    assert ner_micro.p_value < 0.01
    # The other way round: the same difference, negated.
    (reverse, *_rest) = compare([better], [worse], samples=500)
    assert reverse.delta == pytest.approx(-ner_micro.delta)
    assert reverse.high < 0 and reverse.p_value < 0.01


def test_groups_score_the_mean_of_their_runs_and_widen_with_seed_spread():
    runs_a = [table_of(PATTERN), table_of([4] * 6 + PATTERN[6:])]
    runs_b = [table_of(PATTERN), table_of(PATTERN)]
    diff = compare(runs_a, runs_b, tasks=["ner"], samples=400)[0]
    expected_a = np.mean([100 * float(t.f1("ner", "micro")) for t in runs_a])
    assert diff.a == pytest.approx(expected_a)
    assert diff.b == pytest.approx(100 * float(runs_b[0].f1("ner", "micro")))
    # Group A's two runs differ: a resample may draw the good run twice, so the interval
    # reaches zero difference.
    assert diff.low <= 0 < diff.high


def test_mismatched_or_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="different numbers of documents"):
        compare([table_of(PATTERN)], [table_of(PATTERN[:5])])
    with pytest.raises(ValueError, match="level"):
        confidence_intervals(table_of(PATTERN), level=95)
    with pytest.raises(ValueError, match="samples"):
        confidence_intervals(table_of(PATTERN), samples=0)
    with pytest.raises(ValueError, match="at least one run"):
        compare([], [table_of(PATTERN)])


def test_evaluate_py_states_the_same_default_resamples():
    from iter.cli.evaluate import DEFAULT_RESAMPLES
    from iter.evaluation.bootstrap import DEFAULT_SAMPLES

    assert DEFAULT_RESAMPLES == DEFAULT_SAMPLES
