"""Python's cyclic garbage collector kept out of the run's way, for the length of one run.

A run allocates ~10^5 short-lived containers per 1,000 questions (records, rows, passages); with the
default thresholds the collector runs ~170 times per 1,000 questions, and each full collection walks
every object the process holds (modules, the task's samples, the KB's keys): ~8% of a cached
re-run's CPU. For the run, objects made before it are frozen (never walked; they outlive the run
anyway) and the youngest generation is collected every 10,000 allocations instead of 700 (cyclic
garbage waits that much longer; everything else is freed as before). Both are put back when the run
ends, however it ends.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


class QuietCollector:
    """Freeze what exists and raise the youngest generation's threshold until :meth:`close`."""

    def __init__(self) -> None:
        self.threshold = gc.get_threshold()
        self.enabled = gc.isenabled()
        if self.enabled:
            gc.freeze()
            gc.set_threshold(max(self.threshold[0], YOUNG_THRESHOLD), *self.threshold[1:])

    def close(self) -> None:
        if self.enabled:
            gc.set_threshold(*self.threshold)
            gc.unfreeze()
