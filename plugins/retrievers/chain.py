"""``chain``: hierarchical retrieval as composition: a page retriever, then a passage retriever
restricted to those pages (Wiki-LLaVA: CLIP image -> page titles, then Contriever passages).

    --retriever chain --retriever-args pages=eva-clip,passages=dense-text,top_pages=5,top_passages=10

Arguments of the two parts are prefixed: ``pages.top_k=20``, ``passages.model=/models/contriever``
(or given as ``pages_args`` / ``passages_args`` mappings in a YAML config). The task's defaults
for the page retriever (e.g. the EVQA ``index=``) apply as if it were chosen alone. ``top_pages``
cuts the page retriever's pages (its ``top_k`` defaults to ``top_pages``); the passage retriever
ranks the passages of those pages and keeps ``top_passages``. ``query=question+entity`` adds the
top page's title to the text query.

The Retrieval keeps the page level (``pages``, ``raw_hits``: the page retriever's) and the passage
level (``passages`` best first, ``info["passage_scores"]``), so recall@k is reported for both.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from reag_harness.core.errors import HarnessError
from reag_harness.data.retrieval.text import ranked_retrieval
from reag_harness.interfaces import Component, KnowledgeBase, Runtime
from reag_harness.records import Retrieval, Sample


def split_prefixed(args: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{"pages.top_k": 3}`` -> ``{"top_k": 3}`` for prefix ``pages``."""
    return {k[len(prefix) + 1:]: v for k, v in args.items() if k.startswith(prefix + ".")}


class ChainRetriever(Component):
    """A page retriever followed by a passage retriever over the retrieved pages."""

    name = "chain"
    version = "1"

    def __init__(self, runtime: Runtime, pages: str = "eva-clip", passages: str = "dense-text", top_pages: int = 5,
                 top_passages: int = 10, pages_args: Mapping[str, Any] | None = None,
                 passages_args: Mapping[str, Any] | None = None, **prefixed: Any) -> None:
        unknown = [k for k in prefixed if not k.startswith(("pages.", "passages."))]
        if unknown:
            raise HarnessError(f"retriever chain: unknown argument(s) {', '.join(sorted(unknown))} (known: pages, "
                               "passages, top_pages, top_passages, pages.ARG=..., passages.ARG=...)")
        if int(top_pages) < 1 or int(top_passages) < 1:
            raise HarnessError("retriever chain: top_pages and top_passages must be at least 1")
        p_args = {**dict(pages_args or {}), **split_prefixed(prefixed, "pages")}
        q_args = {**dict(passages_args or {}), **split_prefixed(prefixed, "passages")}
        shown = {k: v for k, v in (("pages_args", p_args), ("passages_args", q_args)) if v}
        super().__init__(runtime, pages=pages, passages=passages, top_pages=int(top_pages),
                         top_passages=int(top_passages), **shown)
        self.top_pages, self.top_passages = int(top_pages), int(top_passages)
        from reag_harness.core.plugin_manager import get_registry

        registry = get_registry()
        task_defaults = runtime.extra.get("component_args")
        pages_name = registry.get("retriever", pages).name
        passages_name = registry.get("retriever", passages).name
        if "chain" in (pages_name, passages_name):
            raise HarnessError("retriever chain: a chain cannot contain a chain")
        p_defaults = dict(task_defaults("retriever", pages_name)) if callable(task_defaults) else {}
        p_args = {**p_defaults, **p_args}
        p_args.setdefault("top_k", self.top_pages)
        q_args = {**q_args, "top_k": self.top_passages}
        self.page_retriever = registry.create("retriever", pages_name, runtime, p_args)
        self.passage_retriever = registry.create("retriever", passages_name, runtime, q_args)
        if not callable(getattr(self.passage_retriever, "rank_within", None)):
            raise HarnessError(f"retriever chain: passages={passages_name} cannot rank passages inside given pages "
                               "(use bm25, dense-text, or a retriever with rank_within())")
        self.deviations = list(getattr(self.page_retriever, "deviations", []))

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version,
                "args": {"top_pages": self.top_pages, "top_passages": self.top_passages},
                "pages": self.page_retriever.identity(), "passages": self.passage_retriever.identity()}

    def preflight(self) -> list[str]:
        out: list[str] = []
        for part in (self.page_retriever, self.passage_retriever):
            check = getattr(part, "preflight", None)
            out += list(check() or []) if callable(check) else []
        return out

    def data_checks(self) -> list[Any]:
        """The parts' data checks (``reag-eval data check``), e.g. the page retriever's index."""
        from reag_harness.data.check import FAIL, OK, SKIP, Check

        rows: list[Any] = []
        for label, part in (("pages", self.page_retriever), ("passages", self.passage_retriever)):
            name = f"chain {label} {getattr(part, 'name', '')}"
            if callable(getattr(part, "data_checks", None)):
                rows += part.data_checks()
            elif callable(getattr(part, "preflight", None)):
                problems = part.preflight() or []
                rows += [Check(name, FAIL, p) for p in problems] or [Check(name, OK, "nothing missing")]
            else:
                rows.append(Check(name, SKIP, "no data of its own to check"))
        return rows

    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]:
        if not samples:
            return []
        first = self.page_retriever.retrieve(samples, kb)
        if len(first) != len(samples):
            raise HarnessError(f"retriever chain: the page retriever returned {len(first)} results for "
                               f"{len(samples)} samples")
        pages = [list(r.pages[: self.top_pages]) for r in first]
        titles = [kb.title(p[0][0]) if p and p[0][0] in kb else None for p in pages]
        ranked = self.passage_retriever.rank_within(samples, kb, [[k for k, _ in p] for p in pages],
                                                    top_k=self.top_passages, entities=titles)
        out = []
        for s, r, p, (passages, missing) in zip(samples, first, pages, ranked, strict=True):
            info = {"pages_info": dict(r.info), "top_pages": self.top_pages, "top_passages": self.top_passages,
                    "n_pages": len(p)}
            if missing:
                info["not_in_kb"] = missing
            out.append(ranked_retrieval(s.id, passages, pages=p, info=info, raw_hits=r.raw_hits))
        return out
