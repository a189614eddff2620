"""Strict NER / RE / RE+ scores on hand-made documents, against hand-computed numbers."""

from __future__ import annotations

import pytest

from iter.data.document import Document, Entity, Relation
from iter.evaluation import EvaluationResult, Score, TaskScores, evaluate

# 0 Mary 1 Smith 2 works 3 for 4 Acme 5 Corp 6 in 7 Boston 8 .
WORDS = ("Mary", "Smith", "works", "for", "Acme", "Corp", "in", "Boston", ".")
MARY = Entity(0, 2, "Peop")
ACME = Entity(4, 6, "Org")
BOSTON = Entity(7, 8, "Loc")
WORK_FOR = Relation(MARY, ACME, "Work_For")
BASED_IN = Relation(ACME, BOSTON, "OrgBased_In")
GOLD = Document(WORDS, (MARY, ACME, BOSTON), (WORK_FOR, BASED_IN))


def counts(score: Score) -> tuple[int, int, int]:
    return (score.tp, score.fp, score.fn)


def predict(entities: tuple[Entity, ...], relations: tuple[Relation, ...] = ()) -> Document:
    return GOLD.with_annotations(entities, relations)


# ------------------------------------------------------------------------------------- Score


def test_score_fractions_from_counts():
    score = Score(tp=1, fp=3, fn=0)
    assert score.precision == pytest.approx(0.25)
    assert score.recall == pytest.approx(1.0)
    assert score.f1 == pytest.approx(0.4)  # 2 * 0.25 * 1 / 1.25
    assert score.support == 1
    assert score.to_dict() == {
        "tp": 1, "fp": 3, "fn": 0, "support": 1,
        "precision": pytest.approx(0.25), "recall": pytest.approx(1.0), "f1": pytest.approx(0.4),
    }  # fmt: skip


def test_score_is_zero_where_undefined():
    empty = Score()
    assert (empty.precision, empty.recall, empty.f1) == (0.0, 0.0, 0.0)
    only_false_positives = Score(tp=0, fp=2, fn=0)
    assert (only_false_positives.precision, only_false_positives.f1) == (0.0, 0.0)


def test_score_rejects_negative_counts():
    with pytest.raises(ValueError, match="fn"):
        Score(1, 0, -1)


def test_scores_add_up():
    assert Score(1, 2, 3) + Score(10, 20, 30) == Score(11, 22, 33)


# ----------------------------------------------------------------------------------- evaluate


def test_perfect_prediction():
    result = evaluate([GOLD], [GOLD])
    assert counts(result.ner.micro) == (3, 0, 0)
    assert counts(result.re.micro) == (2, 0, 0)
    assert counts(result.re_plus.micro) == (2, 0, 0)
    for task in (result.ner, result.re, result.re_plus):
        assert task.micro.precision == task.micro.recall == task.micro.f1 == 1.0
        assert task.macro_precision == task.macro_recall == task.macro_f1 == 1.0
    # Without known types the rows are the types seen, sorted.
    assert list(result.ner.per_type) == ["Loc", "Org", "Peop"]
    assert list(result.re.per_type) == ["OrgBased_In", "Work_For"]
    assert result.num_documents == 1


def test_empty_prediction():
    result = evaluate([GOLD], [predict(())])
    assert counts(result.ner.micro) == (0, 0, 3)
    assert counts(result.re.micro) == (0, 0, 2)
    assert counts(result.re_plus.micro) == (0, 0, 2)
    for task in (result.ner, result.re, result.re_plus):
        assert (task.micro.precision, task.micro.recall, task.micro.f1) == (0.0, 0.0, 0.0)
        assert task.macro_f1 == 0.0


def test_wrong_boundary_is_a_false_positive_and_a_miss():
    mary = Entity(0, 1, "Peop")  # "Mary" instead of "Mary Smith"
    result = evaluate([GOLD], [predict((mary, ACME, BOSTON), (Relation(mary, ACME, "Work_For"),
                                                                BASED_IN))])  # fmt: skip
    assert counts(result.ner.micro) == (2, 1, 1)
    assert result.ner.micro.precision == pytest.approx(2 / 3)
    assert result.ner.micro.recall == pytest.approx(2 / 3)
    assert result.ner.micro.f1 == pytest.approx(2 / 3)
    assert counts(result.ner.per_type["Peop"]) == (0, 1, 1)
    # The relation on the wrong span is wrong in both relation tasks.
    for task in (result.re, result.re_plus):
        assert counts(task.micro) == (1, 1, 1)
        assert counts(task.per_type["Work_For"]) == (0, 1, 1)
        assert counts(task.per_type["OrgBased_In"]) == (1, 0, 0)
        assert task.macro_f1 == pytest.approx(0.5)  # mean of 0 and 1


def test_wrong_entity_type_fails_ner_and_re_plus_but_not_re():
    acme = Entity(4, 6, "Loc")  # right span, wrong type
    relations = (Relation(MARY, acme, "Work_For"), Relation(acme, BOSTON, "OrgBased_In"))
    result = evaluate([GOLD], [predict((MARY, acme, BOSTON), relations)])
    assert counts(result.ner.micro) == (2, 1, 1)
    assert counts(result.ner.per_type["Org"]) == (0, 0, 1)
    assert counts(result.ner.per_type["Loc"]) == (1, 1, 0)
    assert counts(result.ner.per_type["Peop"]) == (1, 0, 0)
    assert counts(result.re.micro) == (2, 0, 0)  # boundaries and relation types all match
    assert counts(result.re_plus.micro) == (0, 2, 2)


def test_wrong_relation_type_is_wrong_in_both_relation_tasks():
    result = evaluate([GOLD], [predict(GOLD.entities, (Relation(MARY, ACME, "Kill"), BASED_IN))])
    for task in (result.re, result.re_plus):
        assert counts(task.micro) == (1, 1, 1)
        assert counts(task.per_type["Kill"]) == (0, 1, 0)
        assert counts(task.per_type["Work_For"]) == (0, 0, 1)


def test_duplicates_within_a_document_count_once():
    pred = predict((MARY, MARY, ACME, BOSTON), (WORK_FOR, WORK_FOR, BASED_IN))
    result = evaluate([GOLD], [pred])
    assert counts(result.ner.micro) == (3, 0, 0)
    assert counts(result.re_plus.micro) == (2, 0, 0)


def test_counts_sum_over_documents_and_match_only_within_a_document():
    # The same words twice: doc 0 predicts nothing, doc 1 predicts doc 0's gold entity.
    gold = [GOLD.with_annotations((MARY,), ()), GOLD.with_annotations((BOSTON,), ())]
    pred = [GOLD.with_annotations((), ()), GOLD.with_annotations((MARY, BOSTON), ())]
    result = evaluate(gold, pred)
    assert counts(result.ner.micro) == (1, 1, 1)
    assert counts(result.ner.per_type["Peop"]) == (0, 1, 1)
    assert counts(result.ner.per_type["Loc"]) == (1, 0, 0)
    assert result.num_documents == 2


# ------------------------------------------------------------------------ relation direction

CNN, RNN, NLP = Entity(0, 1, "Method"), Entity(2, 3, "Method"), Entity(4, 5, "Task")
SCI = ("CNN", "and", "RNN", "for", "NLP")


def sci(*relations: Relation) -> Document:
    return Document(SCI, (CNN, RNN, NLP), relations)


def test_symmetric_relation_reversed_is_correct():
    result = evaluate(
        [sci(Relation(CNN, RNN, "Conjunction"))],
        [sci(Relation(RNN, CNN, "Conjunction"))],
        symmetric_relation_types=["Conjunction"],
    )
    assert counts(result.re.micro) == (1, 0, 0)
    assert counts(result.re_plus.micro) == (1, 0, 0)


def test_symmetric_relation_in_both_directions_counts_once():
    both = sci(Relation(RNN, CNN, "Conjunction"), Relation(CNN, RNN, "Conjunction"))
    result = evaluate(
        [sci(Relation(CNN, RNN, "Conjunction"))], [both], symmetric_relation_types=["Conjunction"]
    )
    assert counts(result.re.micro) == (1, 0, 0)
    assert counts(result.re_plus.micro) == (1, 0, 0)
    # A gold relation listed both ways is one relation too, so a one-way prediction finds it.
    result = evaluate([both], [sci(Relation(CNN, RNN, "Conjunction"))], ["Conjunction"])
    assert counts(result.re_plus.micro) == (1, 0, 0)


def test_asymmetric_relation_reversed_is_a_false_positive_and_a_miss():
    gold = sci(Relation(CNN, NLP, "Used-for"), Relation(CNN, RNN, "Conjunction"))
    pred = sci(Relation(NLP, CNN, "Used-for"), Relation(RNN, CNN, "Conjunction"))
    # Only Conjunction is symmetric: the reversed Used-for stays wrong.
    result = evaluate([gold], [pred], symmetric_relation_types=["Conjunction"])
    for task in (result.re, result.re_plus):
        assert counts(task.per_type["Used-for"]) == (0, 1, 1)
        assert counts(task.per_type["Conjunction"]) == (1, 0, 0)
    # With no symmetric types, both reversed relations are wrong.
    directed = evaluate([gold], [pred])
    assert counts(directed.re.micro) == (0, 2, 2)
    assert counts(directed.re_plus.micro) == (0, 2, 2)


def test_asymmetric_relation_in_both_directions_has_one_false_positive():
    gold = sci(Relation(CNN, NLP, "Used-for"))
    pred = sci(Relation(CNN, NLP, "Used-for"), Relation(NLP, CNN, "Used-for"))
    assert counts(evaluate([gold], [pred]).re_plus.micro) == (1, 1, 0)


def test_symmetric_strict_match_on_one_span_with_two_types():
    # Two entities on one span: Relation.canonical cannot order them by span alone.
    a, b = Entity(0, 1, "Method"), Entity(0, 1, "Task")
    words = ("BERT", "rocks")
    gold = Document(words, (a, b), (Relation(a, b, "Compare"),))
    pred = Document(words, (a, b), (Relation(b, a, "Compare"),))
    result = evaluate([gold], [pred], symmetric_relation_types={"Compare"})
    assert counts(result.re_plus.micro) == (1, 0, 0)
    assert counts(evaluate([gold], [pred]).re_plus.micro) == (0, 1, 1)


def test_symmetric_types_as_a_bare_string_are_rejected():
    with pytest.raises(TypeError, match="not a string"):
        evaluate([GOLD], [GOLD], symmetric_relation_types="Conjunction")


# ----------------------------------------------------------------------------- micro / macro


def imbalanced() -> tuple[list[Document], list[Document]]:
    """Loc: 3 gold, all found, plus 1 false positive. Peop: 1 gold, missed, none predicted."""
    words = ("a", "b", "c", "d", "e", "f")
    loc = [Entity(i, i + 1, "Loc") for i in range(4)]
    peop = Entity(5, 6, "Peop")
    gold = [Document(words, (loc[0], loc[1], peop)), Document(words, (loc[2],))]
    pred = [Document(words, (loc[0], loc[1], loc[3])), Document(words, (loc[2],))]
    return gold, pred


def test_micro_and_macro_on_imbalanced_types():
    gold, pred = imbalanced()
    result = evaluate(gold, pred)
    ner = result.ner
    assert counts(ner.per_type["Loc"]) == (3, 1, 0)  # P 3/4, R 1, F1 6/7
    assert counts(ner.per_type["Peop"]) == (0, 0, 1)  # P 0, R 0, F1 0
    assert counts(ner.micro) == (3, 1, 1)
    assert ner.micro.precision == pytest.approx(3 / 4)
    assert ner.micro.recall == pytest.approx(3 / 4)
    assert ner.micro.f1 == pytest.approx(3 / 4)
    assert ner.macro_precision == pytest.approx(3 / 8)  # (3/4 + 0) / 2
    assert ner.macro_recall == pytest.approx(1 / 2)  # (1 + 0) / 2
    assert ner.macro_f1 == pytest.approx(3 / 7)  # (6/7 + 0) / 2
    assert result.main_f1("ner", "micro") == pytest.approx(3 / 4)
    assert result.main_f1("ner", "macro") == pytest.approx(3 / 7)
    assert ner.precision("macro") == pytest.approx(3 / 8)
    assert ner.recall("micro") == pytest.approx(3 / 4)


def test_known_types_order_the_rows_and_join_the_macro_average():
    gold, pred = imbalanced()
    # Org occurs nowhere: its row is all zeros and it lowers the macro average.
    result = evaluate(gold, pred, entity_types=["Peop", "Loc", "Org"])
    assert list(result.ner.per_type) == ["Peop", "Loc", "Org"]
    assert counts(result.ner.per_type["Org"]) == (0, 0, 0)
    assert result.ner.macro_f1 == pytest.approx(2 / 7)  # (0 + 6/7 + 0) / 3
    assert result.ner.micro.f1 == pytest.approx(3 / 4)  # micro is unaffected


def test_types_outside_the_known_list_still_get_a_row():
    pred = predict((MARY, ACME, BOSTON, Entity(2, 3, "Misc")))
    result = evaluate([GOLD], [pred], entity_types=["Peop", "Org", "Loc"])
    assert list(result.ner.per_type) == ["Peop", "Org", "Loc", "Misc"]
    assert counts(result.ner.per_type["Misc"]) == (0, 1, 0)
    # The rows add up to the micro counts.
    assert counts(result.ner.micro) == (3, 1, 0)


def test_relation_types_without_relations_score_zero():
    entities_only = GOLD.with_annotations(GOLD.entities, ())
    result = evaluate([entities_only], [entities_only], relation_types=["Work_For"])
    assert counts(result.re.per_type["Work_For"]) == (0, 0, 0)
    assert result.re.micro.f1 == 0.0 and result.re_plus.macro_f1 == 0.0
    assert result.ner.micro.f1 == 1.0


def test_main_f1_rejects_unknown_names():
    result = evaluate([GOLD], [GOLD])
    assert result.main_f1("re_plus", "macro") == 1.0
    with pytest.raises(ValueError, match="task"):
        result.main_f1("rel", "micro")
    with pytest.raises(ValueError, match="average"):
        result.main_f1("ner", "weighted")


# ------------------------------------------------------------------------------- alignment


def test_different_numbers_of_documents_are_rejected():
    with pytest.raises(ValueError, match="2 gold documents but 1 predicted"):
        evaluate([GOLD, GOLD], [GOLD])


def test_different_tokens_are_rejected_naming_the_document():
    other = Document(("Mary", "Smith"), id="s7")
    with pytest.raises(ValueError, match=r"document 1 \(id s7\): gold and predicted tokens"):
        evaluate([GOLD, other], [GOLD, GOLD])


# ---------------------------------------------------------------------------------- to_dict


def test_to_dict_holds_fractions_and_counts_and_rebuilds_the_result():
    gold, pred = imbalanced()
    result = evaluate(gold, pred)
    data = result.to_dict()
    assert data["num_documents"] == 2
    assert data["ner"]["micro"]["tp"] == 3
    assert data["ner"]["macro"]["f1"] == pytest.approx(3 / 7)
    assert data["ner"]["per_type"]["Loc"]["precision"] == pytest.approx(3 / 4)
    assert set(data) == {"num_documents", "ner", "re", "re_plus"}
    assert EvaluationResult.from_dict(data) == result


def test_task_scores_micro_is_the_sum_of_the_rows():
    scores = TaskScores.from_per_type({"A": Score(1, 0, 2), "B": Score(3, 4, 0)})
    assert scores.micro == Score(4, 4, 2)
