"""The EVQA metric: every case of the spec (metrics.md), with a fake BEM for the EM/BEM routing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from reag_harness.tasks.evqa.metric import (
    EmptyReferenceError,
    EvqaScorer,
    aggregate_evqa,
    exact_match_multi,
    exact_match_single,
    list_iou,
    preprocess_answer,
    split_alternatives,
)


# --- preprocessing -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  The Eiffel\tTower\n", "eiffel tower"),
        ("Saint-Louis", "saintlouis"),
        ("<extra_id_0> Paris", "paris"),
        ("<extra_id_0> a <extra_id_0> b", "b"),  # every occurrence, once the prefix starts the answer
        ("x <extra_id_0> y", "x extraid0 y"),  # not a prefix: only its punctuation goes
        ("The answer is Rome", "rome"),
        ("the answer is: Rome", "rome"),  # punctuation is deleted before the phrase is blanked
        ("It’s Bob´s `car`_x", "its bobs carx"),
        ("“quoted” – dash — em", "“quoted” – dash — em"),  # curly double quotes and dashes stay
        ("none", "0"),
        ("Ten", "10"),
        ("zero one two three four five six seven eight nine", "0 1 2 3 4 5 6 7 8 9"),
        ("True", "yes"),
        ("entailment", "yes"),
        ("False", "no"),
        ("contradiction", "no"),
        ("dont", "don't"),
        ("Don't", "don't"),  # apostrophe deleted, then mapped back
        ("Im here", "im here"),  # the list's capitalised keys can never match
        ("twas oclock", "'twas o'clock"),
        ("an apple a day", "apple day"),
        ("A", ""),
        ("?", ""),
    ],
)
def test_preprocess_answer(text: str, expected: str) -> None:
    assert preprocess_answer(text) == expected


# --- single-answer EM ----------------------------------------------------------------------------
def test_single_em() -> None:
    assert exact_match_single("Eiffel Tower", "the eiffel tower.")
    assert not exact_match_single("Saint-Louis", "saint louis")
    assert exact_match_single("Saint-Louis", "saintlouis")
    assert exact_match_single("no", "False")
    assert exact_match_single("3", "three")
    assert not exact_match_single("3", "3 meters")


@pytest.mark.parametrize("ref", ["A", "The", "?", "the answer is", ""])
def test_single_em_empty_reference_raises(ref: str) -> None:
    with pytest.raises(EmptyReferenceError):
        exact_match_single(ref, "anything")


# --- multi_answer EM -----------------------------------------------------------------------------
def test_multi_em_iou_threshold() -> None:
    assert exact_match_multi("red&&blue", "red")  # IoU exactly 0.5
    assert exact_match_multi("red", "red, blue")  # 1/2
    assert not exact_match_multi("red&&blue", "red, green")  # 1/3
    assert exact_match_multi("red&&blue&&green", "Green and blue & red")
    assert exact_match_multi("red&&blue", "blue,red,")  # empties dropped
    assert list_iou(["a", "b"], ["a"]) == 0.5


def test_multi_em_candidate_splitting_rules() -> None:
    # "1,000" splits on the comma: {"1", "000"} vs {"1000"}
    assert not exact_match_multi("1000", "1,000")
    # " And " is not replaced (case-sensitive): one item "red and blue" after lowercasing
    assert not exact_match_multi("red&&blue", "Red And Blue")
    assert exact_match_multi("red&&blue", "red and blue")
    assert exact_match_multi("red&&blue", "red & blue")


def test_multi_em_empty_reference_raises() -> None:
    with pytest.raises(EmptyReferenceError):
        exact_match_multi("A&&the", "x")
    with pytest.raises(EmptyReferenceError):
        list_iou([], ["x"])


def test_split_alternatives() -> None:
    assert split_alternatives("a|b&&c") == ["a", "b&&c"]
    assert split_alternatives(["a|b", "c"]) == ["a|b", "c"]


# --- the scorer ----------------------------------------------------------------------------------
class FakeBem:
    """Says "equivalent" (0.9) iff the candidate appears in the reference; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str], list[str]]] = []

    def scores(self, candidates: Sequence[str], references: Sequence[str], questions: Sequence[str]) -> list[float]:
        self.calls.append((list(candidates), list(references), list(questions)))
        return [0.9 if c.lower() in r.lower() else 0.1 for c, r in zip(candidates, references)]


def test_em_first_then_bem_max_over_alternatives_one_batch() -> None:
    bem = FakeBem()
    rows = EvqaScorer(bem=bem).score(
        ["q1", "q2", "q3", "q4"],
        ["Paris|Lyon", "Eiffel Tower in Paris|x", "red&&blue", "Rome"],
        ["templated", "automatic", "multi_answer", "2_hop"],
        ["lyon", "Eiffel", "green", "Milan"],
    )
    assert [r["correct"] for r in rows] == [1, 1, 0, 0]
    assert [r["decided_by"] for r in rows] == ["em", "bem", "bem", "bem"]
    assert rows[0]["bem_prob"] is None and rows[1]["bem_prob"] == 0.9
    assert len(bem.calls) == 1  # all BEM inputs of the call in one batch
    cands, refs, qs = bem.calls[0]
    assert refs == ["Eiffel Tower in Paris", "x", "red,blue", "Rome"]  # '&&' -> ',' for multi_answer
    assert cands == ["Eiffel", "Eiffel", "green", "Milan"] and qs == ["q2", "q2", "q3", "q4"]


def test_threshold_is_inclusive() -> None:
    class Half:
        def scores(self, c: Sequence[str], r: Sequence[str], q: Sequence[str]) -> list[float]:
            return [0.5] * len(c)

    assert EvqaScorer(bem=Half()).score(["q"], ["x"], ["templated"], ["y"])[0]["correct"] == 1


def test_no_bem_is_em_lower_bound() -> None:
    rows = EvqaScorer(bem=None).score(["q", "q"], ["Paris", "Rome"], ["templated", "templated"], ["paris", "Milan"])
    assert [(r["correct"], r["decided_by"]) for r in rows] == [(1, "em"), (0, "none")]


def test_candidate_max_chars_applies_before_em_and_bem() -> None:
    bem = FakeBem()
    rows = EvqaScorer(bem=bem, candidate_max_chars=5).score(["q"], ["Paris"], ["templated"], ["Paris is the capital"])
    assert rows[0]["decided_by"] == "em"
    EvqaScorer(bem=bem, candidate_max_chars=3).score(["q"], ["Rome"], ["templated"], ["Milano"])
    assert bem.calls[-1][0] == ["Mil"]


def test_empty_reference_policy_counts_and_lets_bem_judge() -> None:
    bem = FakeBem()
    rows = EvqaScorer(bem=bem).score(["q", "q"], ["A", "||Rome"], ["templated", "templated"], ["a", "Milan"])
    assert rows[0]["empty_reference"] == 1 and rows[0]["decided_by"] == "bem" and rows[0]["correct"] == 1
    assert bem.calls[0][1] == ["A", "Rome"]  # the raw "A"; the two raw-empty alternatives are skipped
    assert rows[1]["empty_reference"] == 2
    no_bem = EvqaScorer().score(["q"], ["The"], ["templated"], ["the"])
    assert no_bem[0]["correct"] == 0 and no_bem[0]["empty_reference"] == 1


def test_missing_prediction_scores_zero_without_bem() -> None:
    bem = FakeBem()
    rows = EvqaScorer(bem=bem).score(["q"], ["Rome"], ["templated"], [None])
    assert rows[0]["missing"] and rows[0]["correct"] == 0 and bem.calls == []


def test_unknown_question_type_raises() -> None:
    with pytest.raises(ValueError, match="unknown question type"):
        EvqaScorer().score(["q"], ["Rome"], ["single"], ["Rome"])


def test_truncation_flag_from_bem_info() -> None:
    class Cutting(FakeBem):
        def scores_with_info(self, c: Sequence[str], r: Sequence[str], q: Sequence[str]) -> tuple[list[float], list]:
            return self.scores(c, r, q), [True] * len(c)

    rows = EvqaScorer(bem=Cutting()).score(["q"], ["Rome"], ["templated"], ["Milan"])
    assert rows[0]["bem_truncated"]


# --- aggregation ---------------------------------------------------------------------------------
def test_aggregate_single_hop_two_hop_and_types() -> None:
    rows = [
        {"question_type": "templated", "correct": 1, "decided_by": "em"},
        {"question_type": "automatic", "correct": 0, "decided_by": "bem"},
        {"question_type": "multi_answer", "correct": 1, "decided_by": "bem"},
        {"question_type": "2_hop", "correct": 1, "decided_by": "em"},
        {"question_type": "2_hop", "correct": 0, "decided_by": "none", "missing": True},
    ]
    out = aggregate_evqa(rows)
    assert out["all"] == 60.0
    assert out["single_hop"] == pytest.approx(200 / 3)
    assert out["two_hop"] == 50.0
    assert out["per_type"] == {"templated": 100.0, "automatic": 0.0, "multi_answer": 100.0, "2_hop": 50.0}
    assert out["n"]["single_hop"] == 3 and out["n"]["two_hop"] == 2
    assert out["decided_by"] == {"em": 2, "bem": 2, "none": 1}
    assert out["official"]["two_hop"] == 100.0 and out["official"]["all"] == 75.0  # missing left out
    assert out["coverage"]["n_missing"] == 1 and out["metric"] == "em+bem"
    assert aggregate_evqa(rows, bem_used=False)["metric"].startswith("em-only lower bound")


def test_aggregate_empty_buckets_are_none() -> None:
    out = aggregate_evqa([{"question_type": "templated", "correct": 1}])
    assert out["two_hop"] is None and out["per_type"]["2_hop"] is None
