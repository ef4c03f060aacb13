"""A keyword (BM25) passage retriever: the reag-harness plugin template."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Sequence

from reag_harness.hookspecs import hookimpl
from reag_harness.interfaces import Component, KnowledgeBase, Runtime
from reag_harness.records import Passage, Retrieval, Sample

TOKEN = re.compile(r"[a-z0-9]+")
STOPWORDS = {"the", "a", "an", "of", "in", "is", "this", "what", "which", "who", "was", "for", "to", "by", "or"}


def tokens(text: str) -> list[str]:
    return [t for t in TOKEN.findall(text.lower()) if t not in STOPWORDS]


class KeywordRetriever(Component):
    """BM25 over every passage of the KB; pages ranked by their best passage."""

    name = "keyword"
    version = "1"

    def __init__(self, runtime: Runtime, top_k: int = 5, k1: float = 1.5, b: float = 0.75, **args: Any) -> None:
        super().__init__(runtime, top_k=top_k, k1=k1, b=b, **args)
        self.top_k, self.k1, self.b = top_k, k1, b
        self._index: tuple[list[Passage], list[Counter[str]], dict[str, int], float] | None = None

    def _build(self, kb: KnowledgeBase) -> tuple[list[Passage], list[Counter[str]], dict[str, int], float]:
        if self._index is None:
            passages = [Passage(k, i, t) for k in kb.keys() for i, t in enumerate(kb.passages(k))]
            bags = [Counter(tokens(p.text)) for p in passages]
            df: Counter[str] = Counter(w for bag in bags for w in bag)
            avg = sum(sum(b.values()) for b in bags) / max(1, len(bags))
            self._index = (passages, bags, dict(df), avg)
        return self._index

    def score(self, query: list[str], bag: Counter[str], df: dict[str, int], n: int, avg: float) -> float:
        length = sum(bag.values())
        total = 0.0
        for w in query:
            if w in bag:
                idf = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
                tf = bag[w]
                total += idf * tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * length / avg))
        return total

    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]:
        passages, bags, df, avg = self._build(kb)
        out = []
        for s in samples:
            query = tokens(s.question)
            scores = [self.score(query, bag, df, len(bags), avg) for bag in bags]
            best: dict[str, float] = {}
            for p, sc in zip(passages, scores):
                best[p.page_key] = max(best.get(p.page_key, 0.0), sc)
            pages = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[: self.top_k]
            chosen = tuple(Passage(k, i, t) for k, _ in pages for i, t in enumerate(kb.passages(k)))
            out.append(Retrieval(s.id, tuple(pages), chosen, raw_hits=tuple(pages)))
        return out


@hookimpl
def register_retrievers(register):
    register("keyword", KeywordRetriever, description="BM25 over KB passages (example plugin)")
