"""The generate stage: the prompt of each sample's kept passages, and the generator's raw output per prompt."""

from __future__ import annotations

import time
from typing import Any, Sequence

from ..core.selection import select
from ..prompts.budget import PromptTooLong, fit_request, length_summary
from ..records import ChatRequest, Generation, Judgement, Passage, Retrieval, Sample
from .batching import BatchState, RunContext, call_persisting
from .keys import generation_check, generation_key, request_json
from .store import StageStore, fingerprint
from .stored_retrieval import passage_at, passage_count


class GenerateStage:
    """Raw outputs keyed by (sample, prompt hash); each model batch is stored as it finishes."""

    name = "generate"

    def __init__(self, ctx: RunContext, store: StageStore) -> None:
        self.ctx, self.store = ctx, store

    @property
    def generator(self) -> Any:
        return self.ctx.components["generator"]

    def run(self, state: BatchState) -> None:
        ctx, store = self.ctx, self.store
        clock, out = ctx.clocks["generate"], {}
        todo: list[tuple[Sample, ChatRequest, str]] = []
        for s in state.batch:
            if s.id not in state.judgements:
                continue
            request = self.fitted_request(s, self.kept_passages(state.retrievals[s.id], state.judgements[s.id], state))
            if request is None:
                continue
            prompt_hash = fingerprint(request_json(request))
            check = generation_check(request, prompt_hash, s, self.generator)
            hit = store.get(generation_key(s.id, prompt_hash), check)
            if hit is not None:
                out[s.id] = self.parsed(s.id, prompt_hash, hit["raw"])
                clock.cached += 1
            else:
                todo.append((s, request, prompt_hash))

        def persist(done: Sequence[tuple[Sample, ChatRequest, str]], raws: Sequence[Any]) -> None:
            store.put_many((generation_key(s.id, h), generation_check(req, h, s, self.generator), {"raw": raw})
                           for (s, req, h), raw in zip(done, raws))

        t0 = time.perf_counter()
        raws = ctx.isolating(
            "generate", lambda xs: call_persisting(self.generator.generate, [x[1] for x in xs], xs, persist),
            todo, lambda x: x[0])
        clock.wall_s += time.perf_counter() - t0
        for (s, _, h), raw in zip(todo, raws):
            if raw is not None:
                out[s.id] = self.parsed(s.id, h, raw)
                clock.computed += 1
        state.generations = out

    def kept_passages(self, r: Retrieval, j: Judgement, state: BatchState | None = None) -> list[Passage] | None:
        """None when no retrieval was used; [] when the critic filtered everything. The selection is kept in
        ``state`` for the sample's row."""
        if not r.used:
            return None
        chosen = select(r, j, self.ctx.components["critic"], self.ctx.config.seed, passage_count(r))
        if state is not None:
            state.selections[r.sample_id] = chosen
        return [passage_at(r, i, read=True) for i in chosen.kept]

    def fitted_request(self, s: Sample, passages: list[Passage] | None) -> ChatRequest | None:
        """The generator request under the generator's prompt-length policy (:mod:`..prompt_budget`).

        None when the prompt cannot fit (recorded as the sample's error). A generator without
        ``prompt_tokens`` gets the request as built; so does one whose measuring fails (the
        generator then raises the same error where errors are isolated).
        """
        ctx = self.ctx

        def build(ps: Any) -> ChatRequest:
            return ctx.components["prompt_style"].build(s, ps, ctx.task.name)

        measure = getattr(self.generator, "prompt_tokens", None)
        if measure is None:
            return build(passages)
        try:
            fitted = fit_request(build, passages, measure, getattr(self.generator, "max_prompt_tokens", None),
                                 getattr(self.generator, "prompt_policy", "truncate"))
        except PromptTooLong as exc:
            ctx.errors[s.id] = ("generate", f"PromptTooLong: {exc}")
            return None
        except Exception:  # noqa: BLE001 - e.g. a missing image: reported by generate() below, per sample
            return build(passages)
        ctx.generator_prompt_lengths.append(fitted.tokens)
        if fitted.dropped:
            ctx.passages_dropped[s.id] = fitted.dropped
        return fitted.request

    def parsed(self, sample_id: str, prompt_hash: str, raw: str) -> Generation:
        reasoning, answer = self.ctx.components["prompt_style"].parse(raw)
        return Generation(sample_id, prompt_hash, raw, reasoning, answer)


def prompt_report(ctx: RunContext) -> dict[str, Any]:
    """Per-stage prompt lengths (tokens: max, p95) and what the prompt policy did, for results.json."""
    critic, generator = ctx.components["critic"], ctx.components["generator"]
    report: dict[str, Any] = {"judge": length_summary(getattr(critic, "prompt_lengths", None) or [])}
    generate = length_summary(ctx.generator_prompt_lengths)
    generate.update(max_prompt_tokens=getattr(generator, "max_prompt_tokens", None),
                    policy=getattr(generator, "prompt_policy", None),
                    truncated_samples=len(ctx.passages_dropped),
                    passages_dropped=sum(ctx.passages_dropped.values()),
                    too_long_errors=sum(1 for _, msg in ctx.errors.values() if msg.startswith("PromptTooLong")))
    report["generate"] = generate
    return report
