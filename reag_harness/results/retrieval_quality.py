"""Retrieval quality of a run, from the sample logs: entity recall@k and critic filtering.

Uses the sample meta keys ``gold_pages`` (KB keys of the gold page(s)) and
``evidence_section_id`` (EVQA); samples without them are not counted for recall.
When a retriever ranks passages (``retrieval_info["passages_ranked"]``: ``bm25``, ``dense-text``,
``chain``), recall is also reported at the passage level (:func:`passage_recall`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .run_results import SampleLog

RECALL_KS = (1, 5, 10, 20)


def retrieval_quality(logs: Sequence[SampleLog], retrieval: bool = True) -> dict[str, Any]:
    """Recall@k and critic filtering; a run without retrieval (``retrieval=False``) has no recall (None)."""
    acc = RetrievalQuality()
    for log in logs:
        acc.add(log.meta, log.retrieved_pages, [(p.page_key, p.index, p.kept) for p in log.passages],
                log.retrieval_info, getattr(log, "evidence_in_context", None), log.score)
    return acc.result(retrieval)


class RetrievalQuality:
    """:func:`retrieval_quality` computed one sample at a time: counts only, nothing kept per sample."""

    def __init__(self) -> None:
        self.n_gold = self.n_retrieved = self.n_passages = self.n_kept = self.all_filtered = 0
        self.recall_hits = dict.fromkeys(RECALL_KS, 0)
        self.n_evidence = self.evidence_kept = 0
        self.flagged: list[int] = [0, 0, 0, 0, 0, 0]  # n, n_true, correct_true, correct_false, n_false, from_file
        self.n_ranked = self.n_ranked_evidence = 0
        self.passage_hits = dict.fromkeys(RECALL_KS, 0)
        self.evidence_hits = dict.fromkeys(RECALL_KS, 0)

    def add_row(self, row: Mapping[str, Any]) -> None:
        """One ``samples.jsonl`` row (passages as dicts)."""
        self.add(row.get("meta") or {}, row.get("retrieved_pages") or [],
                 [(p["page_key"], p["index"], p["kept"]) for p in row.get("passages") or []],
                 row.get("retrieval_info") or {}, row.get("evidence_in_context"), row.get("score") or {})

    def add(self, meta: Mapping[str, Any], retrieved_pages: Sequence[Any], passages: Sequence[tuple[str, int, bool]],
            retrieval_info: Mapping[str, Any], evidence_in_context: bool | None, score: Mapping[str, Any]) -> None:
        """One sample: ``passages`` as (page_key, index, kept) in retrieval order."""
        gold = meta.get("gold_pages")
        section = meta.get("evidence_section_id") if gold else None
        # the runner's rows (pipeline.sample_rows.PassageRefs) say which positions are kept: no tuple is made
        positions = getattr(passages, "kept_positions", lambda: None)()
        if passages:
            self.n_retrieved += 1
            self.n_passages += len(passages)
            kept = len(positions) if positions is not None else sum(1 for p in passages if p[2])
            self.n_kept += kept
            self.all_filtered += not kept
        if gold:
            self.n_gold += 1
            gold_set = set(gold)
            first = next((rank for rank, page in enumerate(retrieved_pages[:RECALL_KS[-1]]) if page[0] in gold_set),
                         None)  # the rank of the first gold page
            if first is not None:
                for k in RECALL_KS:
                    self.recall_hits[k] += first < k
            if section is not None:
                self.n_evidence += 1
                index = int(section)
                if positions is not None:
                    keys, indices = passages.keys, passages.indices  # type: ignore[attr-defined]
                    self.evidence_kept += any(keys[i] in gold_set and indices[i] == index for i in positions)
                else:
                    self.evidence_kept += any(p[2] and p[0] in gold_set and p[1] == index for p in passages)
            if retrieval_info.get("passages_ranked"):
                self.n_ranked += 1
                self.n_ranked_evidence += section is not None
                for k in RECALL_KS:
                    self.passage_hits[k] += any(p[0] in gold_set for p in passages[:k])
                    if section is not None:
                        self.evidence_hits[k] += any(p[0] in gold_set and p[1] == int(section) for p in passages[:k])
        if evidence_in_context is not None:
            correct = float(score.get("correct", 0))
            f = self.flagged
            f[0] += 1
            if evidence_in_context:
                f[1] += 1
                f[2] += correct
            else:
                f[4] += 1
                f[3] += correct
            f[5] += isinstance(meta.get("evidence_text"), str)

    def result(self, retrieval: bool = True) -> dict[str, Any]:
        """The figures; a run without retrieval (``retrieval=False``) has no recall (None, shown as –)."""
        if not retrieval:
            return {"n_with_gold_page": 0, "retrieval": "none: no recall (shown as –)",
                    **{f"recall@{k}": None for k in RECALL_KS}}
        out: dict[str, Any] = {"n_with_gold_page": self.n_gold}
        for k in RECALL_KS:
            out[f"recall@{k}"] = round(100 * self.recall_hits[k] / self.n_gold, 2) if self.n_gold else None
        n = self.n_retrieved or 1
        out["passages_to_critic_mean"] = round(self.n_passages / n, 3)
        out["passages_kept_mean"] = round(self.n_kept / n, 3)
        out["all_filtered"] = self.all_filtered
        if self.n_evidence:
            out["evidence_in_kept"] = round(100 * self.evidence_kept / self.n_evidence, 2)
        f = self.flagged
        if f[0]:
            out["evidence_in_context"] = {
                "n": f[0], "n_true": f[1], "accuracy_with": round(100 * f[2] / f[1], 2) if f[1] else None,
                "accuracy_without": round(100 * f[3] / f[4], 2) if f[4] else None, "from_query_file": f[5],
            }
        if self.n_ranked:
            out["n_ranked_passages"] = self.n_ranked
            for k in RECALL_KS:
                out[f"passage_recall@{k}"] = round(100 * self.passage_hits[k] / self.n_ranked, 2)
            for k in RECALL_KS if self.n_ranked_evidence else ():
                out[f"evidence_recall@{k}"] = round(100 * self.evidence_hits[k] / self.n_ranked_evidence, 2)
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
