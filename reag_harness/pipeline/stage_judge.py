"""The judge stage: the critic's P(yes) per passage, stored per sample and per finished model batch."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from ..records import Judgement, Passage, Sample
from .batching import BatchState, RunContext, call_persisting
from .components import critic_active
from .keys import pair_key, sample_check
from .sample_rows import judge_checks
from .store import StageStore, p_yes_lines
from .stored_retrieval import passage_count


class JudgeStage:
    """P(yes) per passage; each model batch's pairs are stored as it finishes (:func:`.keys.pair_key`).

    The selection rule (threshold, top_n) is applied when reading, so a sweep reuses the stored scores.
    """

    name = "judge"

    def __init__(self, ctx: RunContext, store: StageStore) -> None:
        self.ctx, self.store = ctx, store

    @property
    def critic(self) -> Any:
        return self.ctx.components["critic"]

    def run(self, state: BatchState) -> None:
        ctx, store, retrievals = self.ctx, self.store, state.retrievals
        clock, out = ctx.clocks["judge"], {}
        todo = []
        checks = {}  # made once per sample: looked up now, stored with the new judgements below
        for s in state.batch:
            r = retrievals.get(s.id)
            if r is None:
                continue
            if not critic_active(self.critic) or not r.used or not passage_count(r):
                out[s.id] = Judgement(s.id, None)
                continue
            check, other = judge_checks(sample_check(s, self.critic), r, state.inline_texts.get(s.id, frozenset()))
            checks[s.id] = check
            hit = store.get(s.id, check, floats_as_text=True, also=other)  # other: the older layout's check
            if hit is not None:
                out[s.id] = Judgement(s.id, stored_p_yes(hit.get("p_yes"), s.id, state))
                clock.cached += 1
            else:
                todo.append(s)
        known = self.pairs(todo, state, checks)
        new = []
        for s in todo:
            n = len(retrievals[s.id].passages)
            if s.id in ctx.errors or any((s.id, i) not in known for i in range(n)):
                continue
            new.append(Judgement(s.id, tuple(known[(s.id, i)] for i in range(n))))
        store.put_many((j.sample_id, checks[j.sample_id],
                        {"sample_id": j.sample_id, "p_yes": list(j.p_yes or ())}) for j in new)
        for j in new:
            out[j.sample_id] = j
            clock.computed += 1
            clock.items += len(j.p_yes or ())
        state.judgements = out

    def pairs(self, todo: Sequence[Sample], state: BatchState,
              checks: Mapping[str, str]) -> dict[tuple[str, int], float]:
        """P(yes) of every (sample, passage) pair of ``todo``: stored pairs read, the others scored and stored.

        A pair is stored under ``"<sample>#passage<i>"`` with its sample's judge check (``checks``), which
        names the sample and every passage: valid exactly as long as a whole Judgement would be.
        """
        ctx, store = self.ctx, self.store
        known: dict[tuple[str, int], float] = {}
        pairs = []
        for s in todo:
            check = checks[s.id]
            stored = store.may_hold_items(s.id)  # no per-pair record of this sample: no lookups
            for i, p in enumerate(state.retrievals[s.id].passages):
                hit = store.get(pair_key(s.id, i), check) if stored else None
                if hit is not None:
                    known[(s.id, i)] = float(hit["p_yes"])
                else:
                    pairs.append((s, p, i))

        def persist(done: Sequence[tuple[Sample, Passage, int]], values: Sequence[Any]) -> None:
            store.put_text(p_yes_lines([pair_key(s.id, i) for s, _, i in done], [checks[s.id] for s, _, i in done],
                                       [float(v) for _, v in zip(done, values)]), per_item=True)

        t0 = time.perf_counter()
        probs = ctx.isolating(
            "judge", lambda xs: call_persisting(self.critic.p_yes, [(s, p) for s, p, _ in xs], xs, persist),
            pairs, lambda pair: pair[0])
        ctx.clocks["judge"].wall_s += time.perf_counter() - t0
        for (s, _, i), v in zip(pairs, probs):
            if v is not None:
                known[(s.id, i)] = float(v)
        return known


def stored_p_yes(values: list[Any] | None, sample_id: str, state: BatchState) -> tuple[Any, ...] | None:
    """A stored Judgement's p_yes read with ``floats_as_text``: the floats, and their texts kept in ``state``
    for the sample's row (written as stored, not formatted again). Anything else (NaN, an int) as it was."""
    if values is None:
        return None
    if {*map(type, values)} == {str}:
        state.p_yes_texts[sample_id] = values
        return tuple(map(float, values))
    return tuple(float(v) if type(v) is str else v for v in values)
