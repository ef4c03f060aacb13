"""The retrieve stage: pages and passages per sample, from the stage store or the retriever."""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

from ..core.errors import HarnessError
from ..records import Retrieval, Sample
from .batching import BatchState, RunContext
from .keys import sample_check
from .retrieval_gate import decide, declined, no_retrieval
from .sample_rows import drop_blank, retrieval_from_record, retrieval_record
from .store import StageStore


class RetrieveStage:
    """Retrieval for each sample whose retrieval gate (:mod:`..retrieval_gate`) does not turn it down."""

    name = "retrieve"

    def __init__(self, ctx: RunContext, store: StageStore, kb: Any, gate: StageStore | None) -> None:
        self.ctx, self.store, self.kb, self.gate = ctx, store, kb, gate
        self.kb_keys = KBKeyCheck()

    @property
    def retriever(self) -> Any:
        return self.ctx.components["retriever"]

    def run(self, state: BatchState) -> None:
        ctx, batch = self.ctx, state.batch
        decisions, seconds = decide(ctx.components, [s for s in batch if s.id not in ctx.errors], self.gate,
                                    lambda s: sample_check(s, ctx.components["generator"]),
                                    isolate=lambda fn, xs: ctx.isolating("retrieve", fn, xs, lambda s: s),
                                    failed=lambda s: s.id in ctx.errors)
        ctx.clocks["retrieve"].wall_s += seconds
        ctx.decisions.update(decisions)
        out = self.retrieve([s for s in batch if not declined(decisions.get(s.id))], state)
        for s in batch:
            if declined(decisions.get(s.id)) and s.id not in ctx.errors:
                out[s.id] = no_retrieval(s.id, decisions[s.id])
        state.retrievals = out
        self.kb_keys.check(out.values(), self.kb)

    def retrieve(self, batch: Sequence[Sample], state: BatchState) -> dict[str, Retrieval]:
        ctx, store, kb = self.ctx, self.store, self.kb
        clock, out = ctx.clocks["retrieve"], {}
        todo = []
        for s in batch:
            if s.id in ctx.errors:  # an input error: recorded, never retrieved, judged or generated
                continue
            hit = store.get(s.id, sample_check(s, self.retriever))
            if hit is not None:
                out[s.id], state.inline_texts[s.id] = retrieval_from_record(hit, kb)  # blank ones dropped
                clock.cached += 1
            else:
                todo.append(s)
        t0 = time.perf_counter()
        got = ctx.isolating("retrieve", lambda xs: self.retriever.retrieve(xs, kb), todo, lambda s: s)
        clock.wall_s += time.perf_counter() - t0
        new = [(s, r) for s, r in zip(todo, got) if r is not None]
        records = []
        for s, r in new:
            record, state.inline_texts[s.id] = retrieval_record(r, kb)
            records.append((s.id, sample_check(s, self.retriever), record))
        store.put_many(records)
        for (s, r), (_, _, record) in zip(new, records):
            out[s.id] = r = drop_blank(r, record["blank"])
            r.__dict__["_digest"] = record["passages_digest"]  # the judge check's, as a cached re-run reads it
            r.__dict__["_missing"] = record["pages_not_in_kb"]
            clock.computed += 1
            clock.items += len(r.passages)
        return out


class KBKeyCheck:
    """Retrieved page keys that the KB does not hold: warned with a count and an example; none found fails.

    A FAISS index built over other keys (e.g. percent-quoted vs raw URLs) would otherwise give every
    question zero passages without a word.
    """

    def __init__(self) -> None:
        self.found = 0
        self.missing = 0
        self.example: str | None = None

    def check(self, retrievals: Any, kb: Any) -> None:
        for r in retrievals:
            if not r.used:
                continue
            missing = r.__dict__.get("_missing")  # known from its store record (same KB): no lookups
            if missing is not None:
                self.found += len(r.pages) - len(missing)
                self.missing += len(missing)
                self.example = self.example or next(iter(missing), None)
                continue
            for key, _ in r.pages:
                if key in kb:
                    self.found += 1
                else:
                    self.missing += 1
                    self.example = self.example or key
        if self.missing and not self.found:
            raise HarnessError(
                f"none of the {self.missing} retrieved pages is in the knowledge base (e.g. {self.example!r}, "
                f"while the KB has keys like {next(iter(kb.keys()), None)!r}): the index and the KB use different "
                "keys (percent-quoted vs raw URLs?); rebuild the index over this KB or pass the matching KB")

    def warn(self) -> None:
        if self.missing:
            print(f"reag-eval: warning: {self.missing} of {self.missing + self.found} retrieved pages are not in the "
                  f"knowledge base (e.g. {self.example!r}); they are skipped and recorded in results.json "
                  "(errors.retrieved_pages_not_in_kb)", file=sys.stderr)

    def summary(self) -> dict[str, Any]:
        return {"count": self.missing, "of": self.missing + self.found, "example": self.example}
