"""Oracle retrievers: the gold page(s), or only the gold passage, as the ReAG reference reads them.

``oracle-page``: every passage of each gold page (EVQA ``wikipedia_url``, '|'-split for 2_hop;
InfoSeek ``passage_id``), in order. ``oracle-passage``: EVQA only the gold section: the query file's
``retrieval[0].section_texts[evidence_section_id]`` when present (as the reference), else the
``evidence_section_id`` section of the (first) gold page in the KB (``info["evidence_source"]``
says which); when the sample has no single evidence section (2_hop, absent, out of range) it falls
back to the whole page(s), exactly as the reference does, and says so in ``info``. InfoSeek has no
finer gold than ``passage_id``: there it is the oracle page.

A gold key missing from the KB or a gold page without passages is an input error naming the
query file, line and field (the reference crashes with a KeyError or feeds nothing).
"""

from __future__ import annotations

from typing import Any, Sequence

from reag_harness.core.errors import InputError
from reag_harness.interfaces import Component, KnowledgeBase
from reag_harness.records import Passage, Retrieval, Sample


def _fail(sample: Sample, message: str) -> InputError:
    meta = sample.meta
    return InputError(str(meta.get("source_file", "<samples>")), f"sample {sample.id!r}: {message}",
                      line=meta.get("source_line"), field=meta.get("gold_field", "gold_pages"))


def gold_page_passages(sample: Sample, kb: KnowledgeBase) -> tuple[list[tuple[str, float]], list[Passage]]:
    """Pages (score 1.0) and all passages of the sample's gold pages; raises InputError on a bad key."""
    if sample.meta.get("input_error"):
        raise InputError(str(sample.meta.get("source_file", "")), str(sample.meta["input_error"]))
    gold = list(sample.meta.get("gold_pages") or [])
    if not gold:
        raise _fail(sample, "has no gold page (an oracle retriever needs one)")
    pages, passages = [], []
    for key in gold:
        if key not in kb:
            raise _fail(sample, f"the knowledge base has no page {key!r}")
        texts = kb.passages(key)
        if not texts:
            raise _fail(sample, f"the gold page {key!r} is empty (no passages)")
        pages.append((key, 1.0))
        passages.extend(Passage(key, i, t) for i, t in enumerate(texts))
    return pages, passages


class OraclePageRetriever(Component):
    """All passages of the gold page(s)."""

    name = "oracle-page"

    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]:
        out = []
        for s in samples:
            pages, passages = gold_page_passages(s, kb)
            out.append(Retrieval(sample_id=s.id, pages=tuple(pages), passages=tuple(passages),
                                 raw_hits=tuple(pages), info={"oracle": "page"}))
        return out


class OraclePassageRetriever(Component):
    """EVQA: only the gold section; otherwise (no single section id, InfoSeek) the gold page(s)."""

    name = "oracle-passage"

    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]:
        out = []
        for s in samples:
            text = s.meta.get("evidence_text")
            gold = list(s.meta.get("gold_pages") or [])
            if isinstance(text, str) and gold and s.meta.get("evidence_section_id") is not None:
                # the reference's oracle passage: the query file's retrieval[0].section_texts[evidence_section_id]
                page = (gold[0], 1.0)
                out.append(Retrieval(sample_id=s.id, pages=(page,),
                                     passages=(Passage(gold[0], int(s.meta["evidence_section_id"]), text),),
                                     raw_hits=(page,), info={"oracle": "passage", "evidence_source": "query file"}))
                continue
            pages, passages = gold_page_passages(s, kb)
            info: dict[str, Any] = {"oracle": "passage"}
            section = s.meta.get("evidence_section_id")
            first = pages[0][0]
            on_first = [p for p in passages if p.page_key == first]
            if "evidence_section_id" not in s.meta:
                info["fallback"] = "page: this task's gold is a page (InfoSeek passage_id)"
            elif section is None:
                info["fallback"] = "page: no single evidence_section_id (as the reference)"
            elif not 0 <= int(section) < len(on_first):
                info["fallback"] = (f"page: evidence_section_id {section} is out of range "
                                    f"({len(on_first)} sections; as the reference)")
            else:
                passages = [on_first[int(section)]]
                pages = pages[:1]
                info["evidence_source"] = "kb (the query file has no retrieval[0].section_texts)"
            out.append(Retrieval(sample_id=s.id, pages=tuple(pages), passages=tuple(passages),
                                 raw_hits=tuple(pages), info=info))
        return out
