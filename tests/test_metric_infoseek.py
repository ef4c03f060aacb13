"""The InfoSeek metric: every case of the spec (metrics.md) plus property tests of the number parser."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reag_harness.tasks.infoseek.metric import (
    aggregate_infoseek,
    harmonic_mean,
    infoseek_correct,
    normalize_answer,
    numerical_correct,
    parse_prediction_number,
    question_kind,
    range_iou,
    split_of,
)


# --- routing -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "kind"),
    [("TIME", "time"), ("time", "time"), ("Numerical", "numerical"), ("NUMERICAL", "numerical"),
     ("STRING", "string"), ("entity", "string"), ("", "string")],
)
def test_question_kind_routing(raw: str, kind: str) -> None:
    assert question_kind(raw) == kind


@pytest.mark.parametrize(
    ("split", "expected"),
    [("val_unseen_question", "unseen_question"), ("unseen_question", "unseen_question"),
     ("val_unseen_entity", "unseen_entity"), ("unseen_question_val", "unseen_entity"), ("train", "unseen_entity")],
)
def test_split_routing(split: str, expected: str) -> None:
    assert split_of(split) == expected


# --- normalisation and STRING / TIME -------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("Saint-Louis", "saintlouis"),  # punctuation deleted, no space inserted
        ("  A  cat,  an   apple! ", "cat apple"),
        ("theatre another", "theatre another"),  # only whole words
        ("U.S.A.", "usa"),
        ("“quoted” – dash", "“quoted” – dash"),  # non-ASCII punctuation stays
        ("the", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_string_exact_match_over_alternatives() -> None:
    assert infoseek_correct("the eiffel tower", ["Tour Eiffel", "Eiffel Tower"], "STRING")
    assert not infoseek_correct("eiffel", ["Eiffel Tower"], "STRING")
    assert not infoseek_correct("saint louis", ["Saint-Louis"], "STRING")
    assert infoseek_correct("SaintLouis", ["Saint-Louis"], "STRING")
    assert infoseek_correct("Paris", ["paris"], "unknown-type-goes-to-string")


def test_time_is_plain_exact_match_without_tolerance() -> None:
    assert infoseek_correct("1990.", ["1990"], "TIME")
    assert not infoseek_correct("1991", ["1990"], "TIME")  # the docstring's +-1 year is not implemented
    assert not infoseek_correct("March 1990", ["1990"], "TIME")


def test_none_prediction_is_empty_string() -> None:
    assert not infoseek_correct(None, ["Paris"], "STRING")
    assert infoseek_correct(None, [{"range": [-1, 1]}], "NUMERICAL")  # "" -> [0, 0], 0 in range


# --- the number parser ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234", 1234.0),
        (".5", 5.0),
        ("3e5", 300000.0),
        ("1.2 million", 1.2),
        ("twenty", (0, 0)),
        ("I don't know", (0, 0)),
        ("1990s", 1990.0),
        ("1,5", (1.0, 5.0)),
        ("10-5", 10.0),
        ("5,000-6,000", (5000.0, 6000.0)),
        ("-5 to -3", (-5.0, -3.0)),
        ("9-10 meters", (9.0, 10.0)),
        ("about 1.2.3", (1.2, 3.0)),  # "1.2" and ".3" are two matches
        ("-.5.3 or 7", 7.0),  # "-.5.3" leaves "-" (official: crash): skipped
        ("+.5.3", (0, 0)),
        ("3 4 5", (3.0, 4.0)),  # first two numbers only
        ("12.", 12.0),
        ("+7", 7.0),
    ],
)
def test_parse_prediction_number(text: str, expected: object) -> None:
    got = parse_prediction_number(text)
    assert got == expected
    assert type(got) is type(expected)


def _spec_parser(text: str) -> object:
    """An independent oracle written from the spec's wording (metrics.md), not from any scorer code."""
    spaced = "".join(" - " if c == "-" and i > 0 and text[i - 1].isdigit() else c for i, c in enumerate(text))
    found = re.findall(r"[-+]?[.]?[\d]+(?:,\d\d\d)*[\.]?\d*(?:[eE][-+]?\d+)?", spaced)
    nums = []
    for m in found:
        m = m.replace(",", "").strip(".")
        m = m.split(".")[0] if m.count(".") > 1 else m
        if m not in ("-", "+"):  # the documented policy where the official code crashes
            nums.append(float(m))
    nums = nums[:2]
    if len(nums) == 2:
        return (nums[0], nums[1]) if nums[0] <= nums[1] else nums[0]
    return nums[0] if nums else (0, 0)


_TEXT = st.text(alphabet=st.sampled_from(list("0123456789.,-+eE xk")), max_size=20)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_parser_matches_spec_oracle_and_shape(text: str) -> None:
    got = parse_prediction_number(text)
    assert got == _spec_parser(text)
    if isinstance(got, tuple):
        assert len(got) == 2 and got[0] <= got[1]
    else:
        assert isinstance(got, float)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**12))
def test_parser_round_trips_integers_with_thousand_separators(n: int) -> None:
    assert parse_prediction_number(f"{n:,}") == float(n)
    assert parse_prediction_number(f"about {n} years") == float(n)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_parser_pairs(a: int, b: int) -> None:
    got = parse_prediction_number(f"{a}-{b}")
    assert got == ((float(a), float(b)) if a <= b else float(a))


@given(st.text(alphabet=st.characters(blacklist_categories=("Nd",)), max_size=30))
def test_parser_without_digits_gives_zero_range(text: str) -> None:
    if any(c.isdigit() for c in text):  # other digit-like characters (e.g. superscripts) are fine either way
        return
    assert parse_prediction_number(text) == (0, 0)


# --- NUMERICAL scoring ---------------------------------------------------------------------------
def test_scalar_in_range_inclusive() -> None:
    assert numerical_correct(9.0, [9.0, 11.0])
    assert numerical_correct(11.0, [9.0, 11.0])
    assert not numerical_correct(11.000001, [9.0, 11.0])


def test_range_inside_or_iou() -> None:
    assert numerical_correct((9.5, 10.5), [9.0, 11.0])  # inside
    assert numerical_correct((0.0, 10.0), [5.0, 10.0])  # IoU exactly 0.5 -> correct
    assert not numerical_correct((0.0, 11.0), [5.0, 10.0])  # IoU 5/11
    assert math.isclose(range_iou([0.0, 10.0], [5.0, 10.0]), 0.5, rel_tol=1e-9)
    assert range_iou([0.0, 1.0], [2.0, 3.0]) == 0.0


def test_i_dont_know_is_correct_when_zero_is_in_range() -> None:
    assert infoseek_correct("I don't know", [{"wikidata": 0.0, "range": [-0.1, 0.1]}], "NUMERICAL")
    assert infoseek_correct("no idea", {"range": [0, 5]}, "NUMERICAL")
    assert not infoseek_correct("I don't know", [{"range": [1.0, 2.0]}], "NUMERICAL")


def test_numerical_answer_eval_forms() -> None:
    ref = [{"wikidata": 1000.0, "range": [900.0, 1100.0]}]
    assert infoseek_correct("about 1,050 m", ref, "NUMERICAL")
    assert not infoseek_correct("1000-1200", ref, "NUMERICAL")  # IoU 100/300
    assert infoseek_correct("950-1150", ref, "NUMERICAL")  # IoU 150/250
    assert not infoseek_correct("2000", ref, "NUMERICAL")
    assert infoseek_correct("1000", ["900.0", "1100.0"], "NUMERICAL")  # already extracted range


def test_range_prediction_iou_boundary_on_reference() -> None:
    ref = [{"range": [900.0, 1100.0]}]
    # [1000, 1200] vs [900, 1100]: overlap 100, union 300 -> 1/3: wrong
    assert not infoseek_correct("1000-1200", [{"range": [900.0, 1050.0]}], "NUMERICAL")
    # [1000, 1100] inside [900, 1100]
    assert infoseek_correct("1000 to 1100", ref, "NUMERICAL")


# --- aggregation ---------------------------------------------------------------------------------
def _rows(spec: list[tuple[str, str, bool]], split: str) -> list[dict]:
    return [{"data_id": f"{split}-{i}", "split": split, "question_type": t, "correct": c}
            for i, (_, t, c) in enumerate(spec)]


def test_aggregate_per_type_rounding_and_empty_bucket() -> None:
    uq = _rows([("", "STRING", True), ("", "STRING", False), ("", "STRING", False)], "val_unseen_question")
    ue = _rows([("", "TIME", True), ("", "NUMERICAL", True), ("", "NUMERICAL", False)], "val_unseen_entity")
    out = aggregate_infoseek(uq + ue)
    assert out["unseen_question"]["score"] == 33.33
    assert out["unseen_question"]["score_string"] == 33.33
    assert out["unseen_question"]["score_time"] == 0 and isinstance(out["unseen_question"]["score_time"], int)
    assert out["unseen_entity"]["score"] == 66.67  # micro-average, types pooled
    assert out["unseen_entity"]["score_num"] == 50.0 and out["unseen_entity"]["score_time"] == 100.0
    assert out["official"]["unseen_entity_score"] == {"score": 66.67, "score_time": 100.0, "score_num": 50.0,
                                                     "score_string": 0}
    assert set(out["official"]) == {"final_score", "unseen_question_score", "unseen_entity_score"}


def test_harmonic_mean_on_rounded_split_scores() -> None:
    uq = _rows([("", "STRING", True)], "val_unseen_question")  # 100.0
    ue = _rows([("", "STRING", True)] + [("", "STRING", False)] * 5, "val_unseen_entity")  # 16.666.. -> 16.67
    out = aggregate_infoseek(uq + ue)
    assert out["unseen_entity"]["score"] == 16.67
    assert out["final_score"] == 28.58  # on unrounded scores it would be 28.57
    assert out["official"]["final_score"] == 28.58
    assert round(harmonic_mean(100.0, 100 / 6), 2) == 28.57


def test_zero_split_replaced_by_tiny_value() -> None:
    uq = _rows([("", "STRING", True)], "val_unseen_question")
    ue = _rows([("", "STRING", False)], "val_unseen_entity")
    out = aggregate_infoseek(uq + ue)
    assert out["final_score"] == 0.0
    assert harmonic_mean(0, 0) == pytest.approx(1e-12)


def test_missing_counts_as_wrong_but_official_ignores_it() -> None:
    rows = _rows([("", "STRING", True), ("", "STRING", True)], "val_unseen_question")
    rows += _rows([("", "STRING", True), ("", "STRING", True)], "val_unseen_entity")
    rows[1]["missing"] = True
    rows[1]["correct"] = True  # ignored: a missing prediction can never be correct
    out = aggregate_infoseek(rows, n_unknown_ids=3)
    assert out["unseen_question"]["score"] == 50.0 and out["unseen_question"]["n_missing"] == 1
    assert out["official"]["unseen_question_score"]["score"] == 100.0
    assert out["final_score"] == round(harmonic_mean(50.0, 100.0), 2) == 66.67
    assert out["official"]["final_score"] == 100.0
    assert out["coverage"] == {"n_references": 4, "n_predicted": 3, "n_missing": 1, "n_unknown_ids": 3,
                               "n_null_predictions": 0, "complete": False}


def test_duplicate_rows_are_refused() -> None:
    rows = _rows([("", "STRING", True)], "val_unseen_question") * 2
    with pytest.raises(ValueError, match="duplicate"):
        aggregate_infoseek(rows)


def test_empty_input_gives_official_zeros() -> None:
    out = aggregate_infoseek([])
    assert out["official"] == {
        "final_score": 0.0,
        "unseen_question_score": {"score": 0, "score_time": 0, "score_num": 0, "score_string": 0},
        "unseen_entity_score": {"score": 0, "score_time": 0, "score_num": 0, "score_string": 0},
    }
