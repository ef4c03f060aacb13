"""A finished sample's ``samples.jsonl`` row: passages by reference, the kept ones' texts, what was selected."""

from __future__ import annotations

from typing import Any, Sequence

from ..core.selection import Selection, select
from ..records import Generation, Judgement, Passage, Retrieval, Sample
from .batching import BatchState, RunContext
from .sample_rows import sample_row
from .stored_retrieval import passage_at, passage_count


def row_of(ctx: RunContext, state: BatchState, s: Sample,
           score: dict[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, int], str]]:
    """The row of ``s`` and the texts the run folder stores for it (kept passages, and texts not the KB's)."""
    r = state.retrievals.get(s.id)
    row, texts = sample_row_of(ctx, s, r, state.judgements.get(s.id), state.generations.get(s.id), score,
                               state.p_yes_texts.get(s.id, ()), state.selections.get(s.id))
    return row, {**texts, **inline_of(r, state)}


def sample_row_of(ctx: RunContext, s: Sample, r: Retrieval | None, j: Judgement | None, g: Generation | None,
                  score: dict[str, Any],
                  p_yes_texts: Sequence[str] = (),
                  chosen: Selection | None = None) -> tuple[dict[str, Any], dict[tuple[str, int], str]]:
    """The ``samples.jsonl`` row of a sample (passages by reference) and its kept passages' texts;
    ``chosen``: its selection when the generate stage made it."""
    if chosen is None and r is not None and j is not None:
        chosen = select(r, j, ctx.components["critic"], ctx.config.seed, passage_count(r))
    kept = chosen.kept if chosen is not None else []
    error = ctx.errors.get(s.id)
    evidence = None if "evidence_text" not in s.meta else \
        evidence_in_context(s, r, [passage_at(r, i) for i in kept] if r is not None else [])
    row, texts = sample_row(s, r, j, g, score, kept, f"{error[0]}: {error[1]}" if error else None,
                            ctx.passages_dropped.get(s.id, 0), evidence, p_yes_texts)
    row["retrieval_decision"] = ctx.decisions.get(s.id)
    row["selection"] = chosen.to_json() if chosen is not None else {}
    return row, texts


def inline_of(r: Retrieval | None, state: BatchState) -> dict[tuple[str, int], str]:
    """Texts of ``r`` that are not the KB's (stored in the run folder, kept or not)."""
    inline = state.inline_texts.get(r.sample_id) if r is not None else None
    if not inline:
        return {}
    return {(p.page_key, p.index): p.text for p in r.passages if (p.page_key, p.index) in inline}


def evidence_in_context(s: Sample, r: Retrieval | None, kept: Sequence[Passage]) -> bool | None:
    """The reference's EVQA ``evidence_in_context``: is the gold section among the passages given to the generator?

    With the query file's ``retrieval[0].section_texts`` (``meta["evidence_text"]``) the text is compared as the
    reference does; without it the KB section ``evidence_section_id`` of the first gold page is looked for
    (``retrieval_quality.evidence_in_context.from_kb`` counts those). None for tasks without the notion.
    """
    if "evidence_text" not in s.meta:
        return None
    if r is None or not r.used:
        return False
    text = s.meta.get("evidence_text")
    if isinstance(text, str):
        return any(p.text == text for p in kept)
    section, gold = s.meta.get("evidence_section_id"), s.meta.get("gold_pages") or []
    if section is None or not gold:
        return False  # the reference: no single evidence section -> False
    return any(p.page_key == gold[0] and p.index == int(section) for p in kept)
