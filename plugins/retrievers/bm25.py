"""``bm25``: BM25 over KB passages with ``bm25s`` (text query from the question).

Standalone it searches every passage of the KB through a ``bm25s`` index built once per KB
and settings, cached under ``cache_dir()/indexes/bm25-*`` (``rows.json`` maps index rows to
``[page key, passage index]``). Inside a ``chain`` it scores only the passages of the pages the
page retriever found, with a BM25 built over those candidate passages (so IDF is computed over
them, as a per-question index would).

Arguments: ``top_k`` (passages, default 10), ``query`` (``question``, ``caption``, ``entity``
joined by ``+``), ``k1`` (1.5), ``b`` (0.75), ``method`` (bm25s variant: ``lucene``, ``robertson``,
``atire``, ``bm25l``, ``bm25+``), ``stopwords`` (``en`` or ``none``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from reag_harness.core.errors import HarnessError
from reag_harness.core.paths import cache_dir
from reag_harness.data.retrieval.cache_keys import digest, kb_fingerprint
from reag_harness.data.retrieval.text import PassageRetriever, Ranked, all_passages
from reag_harness.interfaces import KnowledgeBase, Runtime
from reag_harness.records import Passage

INDEX_VERSION = "bm25s-v1"
METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


class Bm25Retriever(PassageRetriever):
    """BM25 passage retrieval (``bm25s``)."""

    name = "bm25"

    def __init__(self, runtime: Runtime, top_k: int = 10, query: str = "question", k1: float = 1.5, b: float = 0.75,
                 method: str = "lucene", stopwords: str = "en", **args: Any) -> None:
        super().__init__(runtime, top_k=top_k, query=query, k1=k1, b=b, method=method, stopwords=stopwords, **args)
        if method not in METHODS:
            raise HarnessError(f"retriever bm25: method={method!r}: use one of {', '.join(METHODS)}")
        self.k1, self.b, self.method = float(k1), float(b), method
        self.stopwords = None if str(stopwords).lower() in ("none", "", "false") else str(stopwords)
        self._kb_index: tuple[Any, list[tuple[str, int]], str] | None = None

    def identity(self) -> dict[str, Any]:
        import bm25s

        return {**super().identity(), "bm25s": bm25s.__version__}

    # -- helpers ---------------------------------------------------------------------------------
    def _tokens(self, texts: Sequence[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(list(texts), stopwords=self.stopwords, return_ids=False, show_progress=False)

    def _new(self) -> Any:
        import bm25s

        return bm25s.BM25(k1=self.k1, b=self.b, method=self.method)

    # -- inside given pages ----------------------------------------------------------------------
    def score_within(self, queries: Sequence[str], candidates: Sequence[Sequence[Passage]]) -> list[list[float]]:
        out: list[list[float]] = []
        for query, cands in zip(queries, candidates, strict=True):
            if not cands:
                out.append([])
                continue
            index = self._new()
            index.index(self._tokens([p.text for p in cands]), show_progress=False)
            out.append([float(x) for x in index.get_scores(self._tokens([query])[0])])
        return out

    # -- the whole KB ----------------------------------------------------------------------------
    def kb_index(self, kb: KnowledgeBase) -> tuple[Any, list[tuple[str, int]], str]:
        """The KB-wide index (built on first use, cached on disk keyed by KB and settings)."""
        fp = kb_fingerprint(kb)
        if self._kb_index is not None and self._kb_index[2] == fp:
            return self._kb_index
        import bm25s
        from filelock import FileLock

        settings = [INDEX_VERSION, fp, self.k1, self.b, self.method, self.stopwords, bm25s.__version__]
        folder = cache_dir() / "indexes" / f"bm25-{digest(settings)}"
        folder.mkdir(parents=True, exist_ok=True)
        rows_file = folder / "rows.json"
        with FileLock(str(folder / ".build.lock")):
            if not rows_file.is_file():
                passages = all_passages(kb)
                if not passages:
                    raise HarnessError("retriever bm25: the knowledge base has no passages")
                index = self._new()
                index.index(self._tokens([p.text for p in passages]), show_progress=False)
                index.save(str(folder / "bm25s"), show_progress=False)
                _write_json(rows_file, [[p.page_key, p.index] for p in passages])
        index = bm25s.BM25.load(str(folder / "bm25s"))
        rows = [(str(k), int(i)) for k, i in json.loads(rows_file.read_text(encoding="utf-8"))]
        self._kb_index = (index, rows, fp)
        return self._kb_index

    def search_kb(self, queries: Sequence[str], kb: KnowledgeBase, k: int) -> list[Ranked]:
        index, rows, _ = self.kb_index(kb)
        k = max(1, min(int(k), len(rows)))
        docs, scores = index.retrieve(self._tokens(queries), k=k, show_progress=False)
        out = []
        for drow, srow in zip(docs.tolist(), scores.tolist(), strict=True):
            ranked = []
            for d, s in zip(drow, srow, strict=True):
                key, i = rows[int(d)]
                ranked.append((Passage(key, i, kb.passages(key)[i]), float(s)))
            out.append(ranked)
        return out


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
