"""No critic: every retrieved passage reaches the generator."""

from __future__ import annotations

from typing import Sequence

from reag_harness.interfaces import Component
from reag_harness.records import Passage, Sample


class NoCritic(Component):
    name = "none"
    threshold = None  # the runner skips this stage

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]]) -> list[float]:
        return [1.0 for _ in pairs]
