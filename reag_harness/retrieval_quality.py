"""Retrieval quality of a run, from the sample logs: entity recall@k and critic filtering.

Uses the sample meta keys ``gold_pages`` (KB keys of the gold page(s)) and
``evidence_section_id`` (EVQA); samples without them are not counted for recall.
When a retriever ranks passages (``retrieval_info["passages_ranked"]``: ``bm25``, ``dense-text``,
``chain``), recall is also reported at the passage level (:func:`passage_recall`).
"""

from __future__ import annotations

from typing import Any, Sequence

from .results import SampleLog

RECALL_KS = (1, 5, 10, 20)


def retrieval_quality(logs: Sequence[SampleLog], retrieval: bool = True) -> dict[str, Any]:
    """Recall@k and critic filtering; a run without retrieval (``retrieval=False``) has no recall (None)."""
    with_gold = [log for log in logs if log.meta.get("gold_pages")] if retrieval else []
    out: dict[str, Any] = {"n_with_gold_page": len(with_gold)}
    if not retrieval:
        out["retrieval"] = "none: no recall (shown as –)"
    for k in RECALL_KS:
        hits = sum(1 for log in with_gold
                   if set(log.meta["gold_pages"]) & {key for key, _ in log.retrieved_pages[:k]})
        out[f"recall@{k}"] = round(100 * hits / len(with_gold), 2) if with_gold else None
    retrieved = [log for log in logs if log.passages]
    if not retrieval:
        return out
    n = len(retrieved) or 1
    out["passages_to_critic_mean"] = round(sum(len(log.passages) for log in retrieved) / n, 3)
    out["passages_kept_mean"] = round(sum(sum(p.kept for p in log.passages) for log in retrieved) / n, 3)
    out["all_filtered"] = sum(1 for log in retrieved if not any(p.kept for p in log.passages))
    with_evidence = [log for log in with_gold if log.meta.get("evidence_section_id") is not None]
    if with_evidence:
        found = sum(1 for log in with_evidence if any(
            p.kept and p.page_key in log.meta["gold_pages"] and p.index == int(log.meta["evidence_section_id"])
            for p in log.passages))
        out["evidence_in_kept"] = round(100 * found / len(with_evidence), 2)
    flagged = [log for log in logs if getattr(log, "evidence_in_context", None) is not None]
    if flagged:
        def accuracy(group: list[SampleLog]) -> float | None:
            scores = [float(log.score.get("correct", 0)) for log in group]
            return round(100 * sum(scores) / len(scores), 2) if scores else None

        inside = [log for log in flagged if log.evidence_in_context]
        outside = [log for log in flagged if not log.evidence_in_context]
        out["evidence_in_context"] = {
            "n": len(flagged), "n_true": len(inside), "accuracy_with": accuracy(inside),
            "accuracy_without": accuracy(outside),
            "from_query_file": sum(1 for log in flagged if isinstance(log.meta.get("evidence_text"), str)),
        }
    out.update(passage_recall(logs))
    return out


def passage_recall(logs: Sequence[SampleLog]) -> dict[str, Any]:
    """Passage-level recall@k for runs whose retriever ranks passages (else nothing).

    ``passage_recall@k``: one of the first k passages is from a gold page;
    ``evidence_recall@k`` (EVQA): the gold section is among the first k passages.
    """
    ranked = [log for log in logs if log.retrieval_info.get("passages_ranked") and log.meta.get("gold_pages")]
    if not ranked:
        return {}
    out: dict[str, Any] = {"n_ranked_passages": len(ranked)}
    for k in RECALL_KS:
        hits = sum(1 for log in ranked if any(p.page_key in log.meta["gold_pages"] for p in log.passages[:k]))
        out[f"passage_recall@{k}"] = round(100 * hits / len(ranked), 2)
    with_evidence = [log for log in ranked if log.meta.get("evidence_section_id") is not None]
    for k in RECALL_KS if with_evidence else ():
        hits = sum(1 for log in with_evidence if any(
            p.page_key in log.meta["gold_pages"] and p.index == int(log.meta["evidence_section_id"])
            for p in log.passages[:k]))
        out[f"evidence_recall@{k}"] = round(100 * hits / len(with_evidence), 2)
    return out
