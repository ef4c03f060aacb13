"""Matching prediction ids to reference ids for ``reag-eval score``: id spellings, re-keying, coverage checks."""

from __future__ import annotations

import re

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.results.scoring_inputs import Predictions


class CoverageError(HarnessError):
    """Predictions and references do not cover each other (exit 1 unless ``--allow-partial``)."""

    exit_code = 1


def id_aliases(ref_id: str, stem: str) -> list[str]:
    """The ids a prediction may carry for reference ``ref_id`` of a file named ``stem``.

    One scheme: a CSV row is ``<file stem>-<0-based row>`` (what ``reag-eval run`` writes, e.g.
    ``test-12``), the official scorer's bare row index ``12`` is accepted too, and either way round.
    """
    out = [ref_id]
    if ref_id.isdigit():
        out.append(f"{stem}-{ref_id}")
    m = re.fullmatch(rf"{re.escape(stem)}-(\d+)", ref_id)
    if m:
        out.append(m.group(1))
    return out


def align_predictions(preds: Predictions, ref_ids: list[str], stem: str) -> Predictions:
    """Re-key predictions by reference id (via :func:`id_aliases`); unknown ids stay as they are.

    Two predictions that name the same reference in the two spellings are refused like a duplicate.
    """
    alias: dict[str, str | None] = {}
    for rid in ref_ids:
        for a in id_aliases(rid, stem):
            alias[a] = rid if alias.get(a, rid) == rid else None  # an ambiguous alias matches nothing
    for rid in ref_ids:
        alias[rid] = rid  # an exact id always wins
    by_id: dict[str, str] = {}
    where: dict[str, tuple[str, int | None, str]] = {}
    for pid, value in preds.by_id.items():
        rid = alias.get(pid) or pid
        if rid in by_id:
            first, this = where[rid], preds.where[pid]
            raise InputError(this[0], f"prediction for id {pid!r} names the same reference {rid!r} as the one "
                             f"in {first[0]} {f'line {first[1]}' if first[1] is not None else first[2]}",
                             line=this[1], field="data_id")
        by_id[rid] = value
        where[rid] = preds.where[pid]
    return Predictions(by_id, where, preds.n_null, preds.sources)


def check_coverage(ref_ids: list[str], preds: Predictions, allow_partial: bool) -> None:
    """Refuse (exit 1) unknown prediction ids or references without a prediction, naming a few."""
    known = set(ref_ids)
    unknown = [p for p in preds.by_id if p not in known]
    missing = [r for r in ref_ids if r not in preds.by_id]
    if allow_partial or not (unknown or missing):
        return
    parts = []
    if unknown:
        parts.append(f"{len(unknown)} prediction id(s) match no reference (e.g. {', '.join(map(repr, unknown[:3]))})")
    if missing:
        parts.append(f"{len(missing)} of {len(ref_ids)} references have no prediction "
                     f"(e.g. {', '.join(map(repr, missing[:3]))})")
    raise CoverageError("; ".join(parts) + ". Ids: EVQA CSV rows are '<file stem>-<row>' or the bare row; "
                        "pass --allow-partial to score the overlap (coverage is printed)")
