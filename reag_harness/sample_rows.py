"""The runner's hot path without per-passage dataclass round trips.

- :func:`sample_row` builds a ``samples.jsonl`` row (the layout of :class:`~reag_harness.results.SampleLog`,
  passages by reference) straight from the stage records: no ``PassageLog`` objects, no ``asdict``.
- :func:`retrieval_from_record` rebuilds a cached Retrieval, texts from the KB, once per page.
- :class:`RunLog` streams rows to disk and keeps only counts and small per-sample facts
  (score, answer), so memory follows the chunk, not the run.
"""

from __future__ import annotations

import json
from typing import IO, Any, Mapping, Sequence

from .records import Generation, Judgement, Passage, Retrieval, Sample
from .retrieval_quality import RetrievalQuality


def retrieval_from_record(data: Mapping[str, Any], kb: Any) -> tuple[Retrieval, frozenset[tuple[str, int]]]:
    """A stored Retrieval record back as a Retrieval, and the (page, index) of texts stored inline (not the KB's)."""
    pages: dict[str, list[str]] = {}
    passages = []
    inline = []
    for p in data.get("passages", ()):
        key, index = str(p["page_key"]), int(p["index"])
        text = p.get("text")
        if text is None:
            page = pages.get(key)
            if page is None:
                page = pages[key] = kb.passages(key)
            text = page[index]
        else:
            inline.append((key, index))
        passages.append(Passage(key, index, text))
    r = Retrieval(str(data["sample_id"]), tuple((str(k), float(s)) for k, s in data.get("pages", ())),
                  tuple(passages), tuple((str(k), float(s)) for k, s in data.get("raw_hits", ())),
                  dict(data.get("info", {})), bool(data.get("used", True)))
    return r, frozenset(inline)


def retrieval_record(r: Retrieval, kb: Any) -> tuple[dict[str, Any], frozenset[tuple[str, int]]]:
    """A Retrieval's store record, each text left out when the KB holds the same; and the texts kept inline."""
    pages: dict[str, list[str]] = {}
    passages = []
    inline = []
    for p in r.passages:
        page = pages.get(p.page_key)
        if page is None:
            page = pages[p.page_key] = list(kb.passages(p.page_key)) if p.page_key in kb else []
        if 0 <= p.index < len(page) and page[p.index] == p.text:
            passages.append({"page_key": p.page_key, "index": p.index})
        else:
            passages.append({"page_key": p.page_key, "index": p.index, "text": p.text})
            inline.append((p.page_key, p.index))
    data = {"sample_id": r.sample_id, "pages": [list(x) for x in r.pages], "passages": passages,
            "raw_hits": [list(x) for x in r.raw_hits], "info": dict(r.info),
            "used": r.used}
    return data, frozenset(inline)


def sample_row(s: Sample, r: Retrieval | None, j: Judgement | None, g: Generation | None, score: dict[str, Any],
               kept: Sequence[int], error: str | None, passages_dropped: int,
               evidence_in_context: bool | None) -> dict[str, Any]:
    """One ``samples.jsonl`` row with passages as ``{"page_key", "index", "text", "p_yes", "kept"}``."""
    passages: list[dict[str, Any]] = []
    if r is not None:
        keep = set(kept)
        p_yes = j.p_yes if j is not None else None
        passages = [{"page_key": p.page_key, "index": p.index, "text": p.text,
                     "p_yes": None if p_yes is None else p_yes[i], "kept": i in keep}
                    for i, p in enumerate(r.passages)]
    return {
        "id": s.id, "question": s.question, "image": s.image, "references": list(s.references),
        "meta": dict(s.meta), "retrieved_pages": [list(p) for p in r.pages] if r else [], "passages": passages,
        "raw_output": g.raw if g else None, "reasoning": g.reasoning if g else None,
        "answer": g.answer if g else None, "score": score, "error": error,
        "retrieval_info": dict(r.info) if r else {}, "evidence_in_context": evidence_in_context,
        "passages_dropped": passages_dropped,
    }


class RunLog:
    """Writes sample rows as they finish; keeps retrieval-quality counts, scores and answers only."""

    def __init__(self, sample_file: IO[str], texts: Any) -> None:
        self.sample_file = sample_file
        self.texts = texts
        self.quality = RetrievalQuality()
        self.scores: list[dict[str, Any]] = []
        self.answers: list[str | None] = []

    def write(self, row: dict[str, Any], kb_texts: frozenset[tuple[str, int]] | None = None) -> None:
        """``kb_texts``: when given, the (page, index) whose text is *not* the KB's (the rest is left to the KB)."""
        self.quality.add(row["meta"], row["retrieved_pages"],
                         [(p["page_key"], p["index"], p["kept"]) for p in row["passages"]],
                         row["retrieval_info"], row["evidence_in_context"], row["score"])
        self.scores.append(row["score"])
        self.answers.append(row["answer"])
        line = json.dumps(self.texts.by_reference(row, kb_texts), default=str)
        self.sample_file.write(line + "\n")
