"""The official InfoSeek metric, reproduced exactly (pure Python, no heavy imports).

Reproduces ``infoseek_eval.py`` of the InfoSeek release (repository ``edchengg/infoseek_eval``):
answer normalisation, STRING/TIME exact match, NUMERICAL range matching with the official number
parser, per-split micro-averages, per-type accuracies, ``round(100 * x, 2)`` and the harmonic mean
of the *rounded* split scores. See ``docs/metrics.md`` and ``/work/shared/spec/metrics.md``.

Two deliberate differences, both reported next to the official number (never instead of it):
references without a prediction count as wrong in the harness numbers (the official code ignores
them), and duplicate predictions are refused (the official code counts them twice).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "SPLITS",
    "TYPES",
    "aggregate_infoseek",
    "answer_range",
    "harmonic_mean",
    "infoseek_correct",
    "normalize_answer",
    "numerical_correct",
    "parse_prediction_number",
    "question_kind",
    "range_iou",
    "split_of",
]

SPLITS = ("unseen_question", "unseen_entity")
TYPES = ("time", "numerical", "string")

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"[-+]?[.]?[\d]+(?:,\d\d\d)*[\.]?\d*(?:[eE][-+]?\d+)?")


def normalize_answer(s: str) -> str:
    """Lowercase, drop ASCII punctuation (no space inserted), blank the words a/an/the, collapse spaces.

    Reproduces ``normalize_answer`` of ``infoseek_eval.py``.
    """
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def _space_ranges(text: str) -> str:
    """Every '-' right after a digit becomes ' - ' (``clean_str_range`` of ``infoseek_eval.py``)."""
    out = []
    for i, ch in enumerate(text):
        out.append(" - " if ch == "-" and i >= 1 and text[i - 1].isdigit() else ch)
    return "".join(out)


def parse_prediction_number(text: str) -> tuple[float, float] | float:
    """Parse a NUMERICAL prediction: a scalar, an ascending pair ``(a, b)`` or ``(0, 0)`` for no number.

    Reproduces ``process_numerical_answer`` of ``infoseek_eval.py``: the first two numbers are kept;
    ascending -> range, descending -> the first number, one -> scalar, none -> ``(0, 0)``. The
    official code returns a list for ranges; a tuple is returned here (same values, hashable).
    Policy where the official code crashes: a match that leaves only a sign ("-.5.3" -> "-") is skipped.
    """
    numbers: list[float] = []
    for match in _NUMBER.findall(_space_ranges(text)):
        token = match.replace(",", "").strip(".")
        if token.count(".") > 1:
            token = token.split(".")[0]
        try:
            numbers.append(float(token))
        except ValueError:  # only "-"/"+" (from e.g. "-.5.3"): the official code crashes; we skip it
            continue
        if len(numbers) == 2:
            break
    if len(numbers) == 2:
        first, second = numbers
        return (first, second) if first <= second else first
    if len(numbers) == 1:
        return numbers[0]
    return (0, 0)


def range_iou(pred: Sequence[float], ref: Sequence[float]) -> float:
    """IoU of two ranges, 1e-12 added to each length (official ``range_intersection_over_union``)."""
    lo1, hi1 = min(pred), max(pred)
    lo2, hi2 = min(ref), max(ref)
    overlap = max(0.0, min(hi1, hi2) - max(lo1, lo2))
    len1 = (hi1 - lo1) + 1e-12
    len2 = (hi2 - lo2) + 1e-12
    union = len1 + len2 - overlap
    return overlap / union if union != 0 else 0


def numerical_correct(pred: tuple[float, float] | Sequence[float] | float, ref: Sequence[float]) -> bool:
    """Scalar: ``lo <= p <= hi``; range: inside ``[lo, hi]`` or IoU >= 0.5 - 1e-12.

    Reproduces ``metric_numerical_range`` of ``infoseek_eval.py`` for a reference range (the only
    case the official pipeline reaches: the +-10 % tolerance is already baked into the released ranges).
    """
    lo, hi = ref[0], ref[1]
    if not isinstance(pred, (list, tuple)):
        return lo <= pred <= hi
    if lo <= pred[0] <= hi and lo <= pred[1] <= hi:
        return True
    return range_iou(pred, ref) >= 0.5 - 1e-12


def answer_range(answer_eval: Any) -> list[float]:
    """The reference range of a NUMERICAL question: ``answer_eval[0]["range"]`` or ``answer_eval["range"]``.

    As in ``prepare_qid2example`` of ``infoseek_eval.py``: the first two values, through ``str`` then ``float``.
    Raises KeyError/TypeError/IndexError/ValueError on a malformed value (callers name the field).
    """
    rng = answer_eval[0]["range"] if isinstance(answer_eval, list) else answer_eval["range"]
    values = [float(str(v)) for v in list(rng)[:2]]
    if len(values) != 2:
        raise ValueError(f"a range needs two numbers, got {rng!r}")
    return values


def question_kind(question_type: str) -> str:
    """Route a raw question type: "time", "numerical", anything else -> "string" (official routing)."""
    q = question_type.lower()
    return q if q in ("time", "numerical") else "string"


def split_of(data_split: str) -> str:
    """``data_split`` ending in "unseen_question" -> "unseen_question", anything else -> "unseen_entity"."""
    return "unseen_question" if data_split.endswith("unseen_question") else "unseen_entity"


def infoseek_correct(prediction: str | None, answer_eval: Any, question_type: str) -> bool:
    """Whether one prediction is correct under the official InfoSeek metric.

    ``answer_eval`` is the raw reference field (a list of strings for STRING/TIME; a list holding
    ``{"range": [lo, hi]}`` or that dict for NUMERICAL; an already extracted ``[lo, hi]`` is accepted too).
    A ``None`` prediction (which crashes the official code) is treated as "". Reproduces
    ``evaluation`` / ``evaluate_entity`` / ``evaluate_time`` / ``evaluate_quantity`` of ``infoseek_eval.py``.
    """
    pred = "" if prediction is None else prediction
    kind = question_kind(question_type)
    if kind == "numerical":
        if isinstance(answer_eval, (list, tuple)) and len(answer_eval) == 2 and not isinstance(answer_eval[0], Mapping):
            ref = [float(str(v)) for v in answer_eval]
        else:
            ref = answer_range(answer_eval)
        return numerical_correct(parse_prediction_number(pred), ref)
    alternatives = [answer_eval] if isinstance(answer_eval, str) else list(answer_eval)
    if not alternatives:
        raise ValueError("answer_eval is empty")
    norm = normalize_answer(pred)
    return any(norm == normalize_answer(a) for a in alternatives)


def _pct(correct: int, total: int) -> float:
    """``round(100 * (correct / total), 2)``, or the int 0 for an empty bucket, as the official code prints it."""
    return round((correct / total) * 100, 2) if total != 0 else round(0 * 100, 2)


def harmonic_mean(*values: float) -> float:
    """Harmonic mean with 0 replaced by 1e-12 (official ``harmonic_mean``)."""
    safe = [v if v != 0 else 1e-12 for v in values]
    return len(safe) / sum(1.0 / v for v in safe)


def _split_scores(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Official per-split block: ``score`` (micro-average, types pooled) and the per-type scores."""
    hits = {k: 0 for k in TYPES}
    counts = {k: 0 for k in TYPES}
    for row in rows:
        kind = question_kind(row["question_type"])
        counts[kind] += 1
        hits[kind] += 1 if row["correct"] else 0
    return {
        "score": _pct(sum(hits.values()), sum(counts.values())),
        "score_time": _pct(hits["time"], counts["time"]),
        "score_num": _pct(hits["numerical"], counts["numerical"]),
        "score_string": _pct(hits["string"], counts["string"]),
        "_counts": counts,
    }


def _official_block(rows_by_split: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[dict[str, Any], dict]:
    blocks = {s: _split_scores(rows_by_split[s]) for s in SPLITS}
    counts = {s: blocks[s].pop("_counts") for s in SPLITS}
    official = {
        "final_score": round(harmonic_mean(blocks["unseen_question"]["score"], blocks["unseen_entity"]["score"]), 2),
        "unseen_question_score": blocks["unseen_question"],
        "unseen_entity_score": blocks["unseen_entity"],
    }
    return official, counts


def aggregate_infoseek(
    rows: Sequence[Mapping[str, Any]], *, n_unknown_ids: int = 0, n_null_predictions: int = 0
) -> dict[str, Any]:
    """Aggregate per-reference rows into the harness metrics and the official block.

    Each row: ``data_id``, ``split`` (raw ``data_split``), ``question_type`` (raw), ``correct`` (bool),
    optional ``missing`` (bool: no prediction for this reference). One row per reference; a repeated
    ``data_id`` raises ValueError. ``n_unknown_ids`` (predictions whose id is not a reference) and
    ``n_null_predictions`` are only reported.

    Returns::

        {"final_score": float,                      # harmonic mean of the rounded split scores
         "unseen_question": {"score", "score_time", "score_num", "score_string",   # percent, 2 decimals
                             "n", "n_time", "n_num", "n_string", "n_missing"},
         "unseen_entity": {... same ...},
         "coverage": {"n_references", "n_predicted", "n_missing", "n_unknown_ids",
                      "n_null_predictions", "complete"},
         "official": {"final_score", "unseen_question_score": {score, score_time, score_num, score_string},
                      "unseen_entity_score": {...}}}

    The harness numbers count a missing prediction as wrong. ``official`` is what ``infoseek_eval.py``
    would print for the same predictions: references without a prediction are left out entirely.
    Both are equal when coverage is complete.
    """
    seen: set[str] = set()
    harness: dict[str, list[Mapping[str, Any]]] = {s: [] for s in SPLITS}
    predicted: dict[str, list[Mapping[str, Any]]] = {s: [] for s in SPLITS}
    n_missing = 0
    for row in rows:
        key = str(row["data_id"])
        if key in seen:
            raise ValueError(f"duplicate data_id {key!r}")
        seen.add(key)
        split = split_of(row["split"])
        missing = bool(row.get("missing", False))
        scored = {"question_type": row["question_type"], "correct": bool(row["correct"]) and not missing}
        harness[split].append(scored)
        if missing:
            n_missing += 1
        else:
            predicted[split].append(scored)

    official, _ = _official_block(predicted)
    mine, counts = _official_block(harness)
    out: dict[str, Any] = {"final_score": mine["final_score"]}
    for split in SPLITS:
        block = dict(mine[f"{split}_score"])
        c = counts[split]
        block.update(
            n=sum(c.values()), n_time=c["time"], n_num=c["numerical"], n_string=c["string"],
            n_missing=len(harness[split]) - len(predicted[split]),
        )
        out[split] = block
    n_refs = len(seen)
    out["coverage"] = {
        "n_references": n_refs,
        "n_predicted": n_refs - n_missing,
        "n_missing": n_missing,
        "n_unknown_ids": n_unknown_ids,
        "n_null_predictions": n_null_predictions,
        "complete": n_missing == 0,
    }
    out["official"] = official
    return out
