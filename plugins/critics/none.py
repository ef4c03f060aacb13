"""No critic: every retrieved passage reaches the generator."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from reag_harness.interfaces import Component
from reag_harness.records import Passage, Sample


class NoCritic(Component):
    name = "none"
    threshold = None  # the runner skips this stage

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]],
              on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[float]:
        out = [1.0 for _ in pairs]
        if on_batch is not None and out:
            on_batch(list(range(len(out))), list(out))
        return out
