"""The official Encyclopedic-VQA metric (exact match first, BEM second), reproduced exactly.

Pure Python: TensorFlow is only touched through a :class:`~reag_harness.tasks.evqa.bem.BemScorer`
passed in by the caller. Reproduces ``evaluation_utils.py`` of google-research ``encyclopedic_vqa``:
answer preprocessing, single-answer EM, multi_answer list-IoU EM, max over '|' alternatives, EM then
BEM. Unlike the official code, the scorer batches every BEM call of one :meth:`EvqaScorer.score` call.

Crash policies (the official code raises; we keep scoring and count them, see ``docs/metrics.md``):

* a reference alternative that is empty after preprocessing (e.g. "A", "The", "?"): exact match is
  not decided for that alternative (no match); BEM still judges it against the raw reference text.
  A raw-empty alternative ("") is skipped altogether.
* a BEM input over 512 tokens: the candidate's word pieces are cut from the end until the input
  fits (then the question's, then the reference's); the sample is flagged ``bem_truncated``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = [
    "QUESTION_TYPES",
    "SINGLE_HOP_TYPES",
    "EmptyReferenceError",
    "EvqaScorer",
    "aggregate_evqa",
    "exact_match_multi",
    "exact_match_single",
    "list_iou",
    "preprocess_answer",
    "split_alternatives",
]

QUESTION_TYPES = ("templated", "automatic", "multi_answer", "2_hop")
SINGLE_HOP_TYPES = ("templated", "automatic", "multi_answer")
_LIST_TYPES = ("list", "multianswer", "multi_answer")  # types whose reference '&&' becomes ',' for BEM

_PUNCT = frozenset(string.punctuation + "‘’´`_")
_ARTICLES = re.compile(r"\b(the answer is|a|an|the)\b")
_SPAN_PREFIX = "<extra_id_0> "
_WORD_MAP = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
    "entailment": "yes", "true": "yes", "contradiction": "no", "false": "no",
}
# The VQA contraction list, restricted to the entries that can match at that point of the
# preprocessing: punctuation (the apostrophe included) is already gone and the text is lowercase,
# so only apostrophe-free lowercase keys are reachable. For each of those the key is the
# contraction without its apostrophes ("dont" -> "don't").
_CONTRACTED = (
    "ain't aren't can't could've couldn't didn't doesn't don't hadn't hasn't haven't he'd he's how'd "
    "how'll how's isn't it'd it'll ma'am mightn't might've mustn't must've needn't not've o'clock "
    "oughtn't shan't should've shouldn't somebody'll somebody's someone'd someone'll someone's "
    "something'd something'll that's there'd there're there's they'd they'll they're they've 'twas "
    "wasn't we've weren't what'll what're what's what've when's where'd where's where've who'd who'll "
    "who's who've why'll why're why's won't would've wouldn't y'all you'd you'll you're you've"
).split()
_CONTRACTIONS = {c.replace("'", ""): c for c in _CONTRACTED}


class EmptyReferenceError(ValueError):
    """A reference that is empty after preprocessing: the official code raises here."""


def preprocess_answer(answer: str) -> str:
    """Preprocess an answer for exact match, as ``preprocess_answer`` of ``evaluation_utils.py``.

    In order: lowercase, newline/tab to space, strip; if it starts with "<extra_id_0> " remove every
    occurrence of it; delete ``string.punctuation + "‘’´`_"``; blank "the answer is"/a/an/the;
    map whole words (none/zero..ten -> digits, true/entailment -> yes, false/contradiction -> no,
    VQA contractions); collapse whitespace.
    """
    s = answer.lower().replace("\n", " ").replace("\t", " ").strip()
    if s.startswith(_SPAN_PREFIX):
        s = s.replace(_SPAN_PREFIX, "")
    s = "".join(c for c in s if c not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    words = []
    for w in s.split():
        w = _WORD_MAP.get(w, w)
        words.append(_CONTRACTIONS.get(w, w))
    return " ".join(words)


def exact_match_single(reference: str, candidate: str) -> bool:
    """Single-answer EM: equal after preprocessing (official ``singleanswer_exact_match``).

    Raises :class:`EmptyReferenceError` when the reference is empty after preprocessing.
    """
    ref = preprocess_answer(reference)
    if not ref:
        raise EmptyReferenceError(f"reference {reference!r} is empty after preprocessing")
    return ref == preprocess_answer(candidate)


def list_iou(reference_items: Sequence[str], candidate_items: Sequence[str]) -> float:
    """Set intersection over union (official ``_list_intersection_over_union``); the reference must be non-empty."""
    ref, cand = set(reference_items), set(candidate_items)
    if not ref:
        raise EmptyReferenceError("the reference list is empty")
    return len(ref & cand) / len(ref | cand)


def exact_match_multi(reference: str, candidate: str, iou_threshold: float = 0.5) -> bool:
    """multi_answer EM (official ``multianswer_exact_match``): list IoU >= 0.5.

    Reference items: split on "&&", preprocessed, empties dropped. Candidate items: " and " and " & "
    replaced by ",", split on "," (so "1,000" splits), preprocessed, empties dropped.
    Raises :class:`EmptyReferenceError` when no reference item is left.
    """
    ref_items = [p for p in (preprocess_answer(a) for a in reference.split("&&")) if p]
    if not ref_items:
        raise EmptyReferenceError(f"reference {reference!r} has no item left after preprocessing")
    pieces = candidate.replace(" and ", ",").replace(" & ", ",").split(",")
    cand_items = [p for p in (preprocess_answer(a) for a in pieces) if p]
    return list_iou(ref_items, cand_items) >= iou_threshold


def split_alternatives(reference: str | Sequence[str]) -> list[str]:
    """Annotator alternatives: a raw answer string is split on '|'; a list is taken as it is."""
    if isinstance(reference, str):
        return reference.split("|")
    return [str(a) for a in reference]


class BemLike(Protocol):
    """What :class:`EvqaScorer` needs from a BEM scorer (the real one or a test double)."""

    def scores(self, candidates: Sequence[str], references: Sequence[str], questions: Sequence[str]) -> list[float]:
        ...


class EvqaScorer:
    """Score EVQA predictions: per alternative EM first, BEM second; max over alternatives.

    ``bem=None`` gives the exact-match lower bound (every non-EM sample scores 0, ``decided_by="none"``).
    ``candidate_max_chars`` cuts each prediction before EM and BEM (ReAG's evaluation uses 128;
    the official scorer does not cut: default ``None``).
    """

    def __init__(self, bem: BemLike | None = None, candidate_max_chars: int | None = None) -> None:
        self.bem = bem
        self.candidate_max_chars = candidate_max_chars

    def score(
        self,
        questions: Sequence[str],
        references: Sequence[str | Sequence[str]],
        question_types: Sequence[str],
        predictions: Sequence[str | None],
    ) -> list[dict[str, Any]]:
        """One dict per sample, in order.

        Keys: ``correct`` (0/1), ``decided_by`` ("em": an exact match; "bem": BEM judged it;
        "none": no exact match and BEM not run), ``bem_prob`` (max BEM probability or None),
        ``missing`` (prediction None: scored 0 without running anything), ``empty_reference``
        (alternatives empty after preprocessing), ``bem_truncated`` (a BEM input was cut to 512 tokens).
        All BEM inputs of the call go to the BEM scorer as one batch.
        """
        n = len(predictions)
        if not (len(questions) == len(references) == len(question_types) == n):
            raise ValueError("questions, references, question_types and predictions must have the same length")
        rows: list[dict[str, Any]] = []
        pending: list[tuple[int, str, str, str]] = []  # (row, candidate, reference, question)
        for i in range(n):
            qtype = question_types[i]
            if qtype not in QUESTION_TYPES:
                raise ValueError(f"unknown question type {qtype!r}; valid: {', '.join(QUESTION_TYPES)}")
            row: dict[str, Any] = {
                "correct": 0, "decided_by": "none", "bem_prob": None, "missing": predictions[i] is None,
                "empty_reference": 0, "bem_truncated": False,
            }
            rows.append(row)
            if predictions[i] is None:
                continue
            cand = str(predictions[i])
            if self.candidate_max_chars is not None:
                cand = cand[: self.candidate_max_chars]
            to_bem: list[str] = []
            for alt in split_alternatives(references[i]):
                if not alt:
                    row["empty_reference"] += 1
                    continue
                try:
                    matched = exact_match_multi(alt, cand) if qtype == "multi_answer" else exact_match_single(alt, cand)
                except EmptyReferenceError:
                    row["empty_reference"] += 1
                    matched = False
                if matched:
                    row["correct"], row["decided_by"] = 1, "em"
                    break
                to_bem.append(alt.replace("&&", ",") if qtype in _LIST_TYPES else alt)
            if row["decided_by"] == "em" or self.bem is None:
                continue
            pending.extend((i, cand, ref, str(questions[i])) for ref in to_bem)
        if pending:
            self._run_bem(rows, pending)
        return rows

    def _run_bem(self, rows: list[dict[str, Any]], pending: list[tuple[int, str, str, str]]) -> None:
        assert self.bem is not None
        cands = [p[1] for p in pending]
        refs = [p[2] for p in pending]
        qs = [p[3] for p in pending]
        with_info = getattr(self.bem, "scores_with_info", None)
        if with_info is not None:
            probs, truncated = with_info(cands, refs, qs)
        else:
            probs, truncated = self.bem.scores(cands, refs, qs), [False] * len(pending)
        for (i, *_), prob, cut in zip(pending, probs, truncated):
            row = rows[i]
            row["decided_by"] = "bem"
            row["bem_prob"] = prob if row["bem_prob"] is None else max(row["bem_prob"], prob)
            row["bem_truncated"] = row["bem_truncated"] or bool(cut)
            if prob >= 0.5:
                row["correct"] = 1


def _pct(values: Sequence[int]) -> float | None:
    return 100.0 * sum(values) / len(values) if values else None


def _buckets(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {k: [] for k in ("all", "single_hop", "two_hop", *QUESTION_TYPES)}
    for r in rows:
        score = int(r["correct"])
        out["all"].append(score)
        out["two_hop" if r["question_type"] == "2_hop" else "single_hop"].append(score)
        out[r["question_type"]].append(score)
    return out


def aggregate_evqa(
    rows: Sequence[Mapping[str, Any]], *, bem_used: bool = True, n_unknown_ids: int = 0, n_null_predictions: int = 0
) -> dict[str, Any]:
    """Aggregate per-sample rows (``question_type``, ``correct``, optional ``decided_by``, ``missing``,
    ``empty_reference``, ``bem_truncated``) into percentages.

    Returns::

        {"all", "single_hop", "two_hop": percent or None (empty bucket),
         "per_type": {templated, automatic, multi_answer, 2_hop},
         "n": {all, single_hop, two_hop, <type>...},
         "metric": "em+bem" | "em-only lower bound (no BEM)", "bem_used": bool,
         "decided_by": {"em", "bem", "none"},
         "policy": {"empty_reference_alternatives", "samples_with_empty_reference", "bem_truncated"},
         "coverage": {"n_references", "n_predicted", "n_missing", "n_unknown_ids", "n_null_predictions", "complete"},
         "official": {all, single_hop, two_hop, <type>...}}

    Single-hop is every type but 2_hop (as ReAG and ReflectiVA report it). Harness numbers count a
    missing prediction as wrong; ``official`` is the mean over predicted samples only (what a scorer
    iterating the predictions, like the official per-example function, would give).
    """
    rows = list(rows)
    for r in rows:
        if r["question_type"] not in QUESTION_TYPES:
            raise ValueError(f"unknown question type {r['question_type']!r}")
    harness = _buckets(rows)
    predicted = _buckets([r for r in rows if not r.get("missing", False)])
    decided = {"em": 0, "bem": 0, "none": 0}
    for r in rows:
        decided[r.get("decided_by", "none")] += 1
    n_missing = sum(1 for r in rows if r.get("missing", False))
    return {
        "all": _pct(harness["all"]),
        "single_hop": _pct(harness["single_hop"]),
        "two_hop": _pct(harness["two_hop"]),
        "per_type": {t: _pct(harness[t]) for t in QUESTION_TYPES},
        "n": {k: len(v) for k, v in harness.items()},
        "metric": "em+bem" if bem_used else "em-only lower bound (no BEM)",
        "bem_used": bem_used,
        "decided_by": decided,
        "policy": {
            "empty_reference_alternatives": sum(int(r.get("empty_reference", 0)) for r in rows),
            "samples_with_empty_reference": sum(1 for r in rows if r.get("empty_reference", 0)),
            "bem_truncated": sum(1 for r in rows if r.get("bem_truncated", False)),
        },
        "coverage": {
            "n_references": len(rows),
            "n_predicted": len(rows) - n_missing,
            "n_missing": n_missing,
            "n_unknown_ids": n_unknown_ids,
            "n_null_predictions": n_null_predictions,
            "complete": n_missing == 0,
        },
        "official": {k: _pct(v) for k, v in predicted.items()},
    }
