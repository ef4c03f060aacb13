"""What the text passage retrievers (``bm25``, ``dense-text``) share: queries, scopes, results.

A passage retriever ranks KB passages for a text query built from the sample (``query=``:
``question``, ``caption``, ``entity`` joined by ``+``). It works in two scopes:

- standalone (``retrieve``): over every passage of the KB, through an index built once per KB
  and model and cached under ``cache_dir()/indexes``;
- inside given pages (:meth:`PassageRetriever.rank_within`): the ``chain`` retriever hands it
  the pages its page retriever found and keeps the best passages of those pages only.

Results are :class:`~reag_harness.records.Retrieval` records whose passages are sorted by
score (best first); ``info["passage_scores"]`` holds their scores and
``info["passages_ranked"]`` tells the run report to compute passage-level recall.
No torch at import: the models load in the plugins.
"""

from __future__ import annotations

from typing import Any, Sequence

from ...core.errors import HarnessError, InputError
from ...interfaces import Component, KnowledgeBase, Runtime
from ...records import Passage, Retrieval, Sample

QUERY_PARTS = ("question", "caption", "entity")
Ranked = list[tuple[Passage, float]]


def parse_query(spec: str) -> tuple[str, ...]:
    """``"question+entity"`` -> ``("question", "entity")``; unknown parts are refused."""
    parts = tuple(p.strip() for p in str(spec).split("+") if p.strip())
    bad = [p for p in parts if p not in QUERY_PARTS]
    if not parts or bad:
        raise HarnessError(f"query={spec!r}: use parts {', '.join(QUERY_PARTS)} joined by '+' "
                           f"(e.g. question+entity)")
    return parts


def all_passages(kb: KnowledgeBase) -> list[Passage]:
    """Every passage of the KB, in KB order."""
    return [Passage(key, i, text) for key in kb.keys() for i, text in enumerate(kb.passages(key))]


def page_passages(kb: KnowledgeBase, keys: Sequence[str]) -> tuple[list[Passage], list[str]]:
    """The passages of ``keys`` (each page once, in order) and the keys missing from the KB."""
    seen: set[str] = set()
    out: list[Passage] = []
    missing: list[str] = []
    for key in keys:
        if key in seen:
            continue
        seen.add(key)
        if key not in kb:
            missing.append(key)
            continue
        out.extend(Passage(key, i, text) for i, text in enumerate(kb.passages(key)))
    return out, missing


def pages_of(ranked: Ranked) -> list[tuple[str, float]]:
    """Pages in order of their best passage (best score kept)."""
    best: dict[str, float] = {}
    for p, score in ranked:
        if p.page_key not in best:
            best[p.page_key] = float(score)
    return list(best.items())


def ranked_retrieval(sample_id: str, ranked: Ranked, pages: Sequence[tuple[str, float]] | None = None,
                     info: dict[str, Any] | None = None, raw_hits: Sequence[tuple[str, float]] = ()) -> Retrieval:
    """A Retrieval whose passages are ``ranked`` (best first); pages default to the passages' pages."""
    info = dict(info or {})
    info["passages_ranked"] = True
    info["passage_scores"] = [round(float(s), 6) for _, s in ranked]
    pages = list(pages) if pages is not None else pages_of(ranked)
    return Retrieval(sample_id=sample_id, pages=tuple((k, float(s)) for k, s in pages),
                     passages=tuple(p for p, _ in ranked), raw_hits=tuple(raw_hits), info=info)


class PassageRetriever(Component):
    """Base of text passage retrievers. Subclasses implement :meth:`score_within` and
    :meth:`search_kb`; ``top_k`` counts passages."""

    version = "1"

    def __init__(self, runtime: Runtime, top_k: int = 10, query: str = "question", caption_field: str = "caption",
                 entity_field: str = "entity", **args: Any) -> None:
        super().__init__(runtime, top_k=top_k, query=query, caption_field=caption_field, entity_field=entity_field,
                         **args)
        if int(top_k) < 1:
            raise HarnessError(f"retriever {self.name}: top_k must be at least 1, got {top_k}")
        self.top_k = int(top_k)
        self.query_parts = parse_query(query)
        self.caption_field, self.entity_field = caption_field, entity_field

    # -- queries ---------------------------------------------------------------------------------
    def query_text(self, sample: Sample, entity: str | None = None) -> str:
        """The query: the chosen parts joined by spaces (``entity`` from a chain's top page)."""
        out = []
        for part in self.query_parts:
            if part == "question":
                out.append(sample.question)
                continue
            field = self.caption_field if part == "caption" else self.entity_field
            value = entity if part == "entity" and entity else sample.meta.get(field)
            if not isinstance(value, str) or not value.strip():
                raise InputError(str(sample.meta.get("source_file", f"sample {sample.id}")),
                                 f"sample {sample.id!r} has no {part} for query={'+'.join(self.query_parts)} "
                                 f"(meta field '{field}'" + (", or a chain's top page title)" if part == "entity"
                                                             else ")"),
                                 line=sample.meta.get("source_line"), field=field)
            out.append(value.strip())
        return " ".join(out)

    # -- to implement ----------------------------------------------------------------------------
    def score_within(self, queries: Sequence[str], candidates: Sequence[Sequence[Passage]]) -> list[list[float]]:
        """One score per candidate passage of each query (higher is better)."""
        raise NotImplementedError

    def search_kb(self, queries: Sequence[str], kb: KnowledgeBase, k: int) -> list[Ranked]:
        """The ``k`` best passages of the whole KB for each query."""
        raise NotImplementedError

    # -- ranking -----------------------------------------------------------------------------------
    def rank_within(self, samples: Sequence[Sample], kb: KnowledgeBase, pages: Sequence[Sequence[str]],
                    top_k: int | None = None, entities: Sequence[str | None] | None = None
                    ) -> list[tuple[Ranked, list[str]]]:
        """For each sample, its ``top_k`` best passages among those of ``pages[i]`` (ties: page order),
        and the page keys that are not in the KB."""
        k = int(top_k or self.top_k)
        entities = entities or [None] * len(samples)
        queries = [self.query_text(s, e) for s, e in zip(samples, entities, strict=True)]
        candidates, missing = zip(*[page_passages(kb, keys) for keys in pages], strict=True) if samples else ((), ())
        scores = self.score_within(queries, candidates)
        out = []
        for cands, sc, miss in zip(candidates, scores, missing, strict=True):
            order = sorted(range(len(cands)), key=lambda i: (-sc[i], i))[:k]
            out.append(([(cands[i], float(sc[i])) for i in order], list(miss)))
        return out

    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]:
        """Standalone: the ``top_k`` best passages of the whole KB; pages by their best passage."""
        if not samples:
            return []
        queries = [self.query_text(s) for s in samples]
        results = self.search_kb(queries, kb, self.top_k)
        return [ranked_retrieval(s.id, ranked, info={"scope": "kb", "query": q})
                for s, q, ranked in zip(samples, queries, results, strict=True)]
