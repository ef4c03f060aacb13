"""The score stage: the task's metric per sample (nothing in a predict-only run)."""

from __future__ import annotations

import time

from .batching import BatchState, RunContext


class ScoreStage:
    """Each sample's answer scored by the task (a missing generation scores as no answer)."""

    name = "score"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def run(self, state: BatchState) -> None:
        ctx, batch = self.ctx, state.batch
        t0 = time.perf_counter()
        answers = [state.generations[s.id].answer if s.id in state.generations else None for s in batch]
        state.scores = [{} for _ in batch] if ctx.predict_only else ctx.task.score(batch, answers)
        ctx.clocks["score"].wall_s += time.perf_counter() - t0
        ctx.clocks["score"].computed += len(batch)
