"""No critic: every retrieved passage reaches the generator."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Component, Runtime
from reag_harness.records import Passage, Sample


class NoCritic(Component):
    name = "none"
    threshold = None  # the runner skips this stage
    top_n = None

    def __init__(self, runtime: Runtime, **args: Any) -> None:
        rule = sorted(k for k in ("threshold", "top_n") if args.get(k) is not None)
        if rule:
            raise HarnessError(f"critic 'none' scores no passage, so {' and '.join(rule)} cannot select any: "
                               "choose a critic (e.g. --critic reag-critic) or drop the argument")
        super().__init__(runtime, **args)

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]],
              on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[float]:
        out = [1.0 for _ in pairs]
        if on_batch is not None and out:
            on_batch(list(range(len(out))), list(out))
        return out
