"""What a run tells the terminal: one bar per stage on a TTY, plain lines in a log file.

On a terminal each stage has exactly one tqdm bar (samples, rate, ETA), opened when the stage
starts and closed when its last sample is done; the elapsed time and rate shown are the stage's own
compute time (stages interleave chunk by chunk). Not on a terminal (Slurm, nohup, ``> log``), each
stage prints a line when it starts and ends, and a progress line (done/total, rate, ETA) at most every
``interval_s`` seconds while it runs, from a background heartbeat so that one long model call still
shows up in the log. :func:`reag_harness.core.quiet.quiet_third_party` silences other libraries' bars and warnings.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Mapping, TextIO

INTERVAL_S = 30.0
STAGES = ("retrieve", "judge", "generate", "score")


def _screen() -> tuple[int, int]:
    """The terminal's (columns, rows); (100, 24) when it reports none (a fresh pseudo-terminal says 0 x 0,
    and tqdm hides a bar below the last row)."""
    import shutil

    size = shutil.get_terminal_size((100, 24))
    return min(size.columns or 100, 160), size.lines or 24


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


class StageProgress:
    """Progress of one stage. ``busy_s`` (when given to :meth:`update`) is the stage's own time so far."""

    def __init__(self, name: str, total: int, *, unit: str = "sample", stream: TextIO | None = None,
                 tty: bool | None = None, interval_s: float = INTERVAL_S, disable: bool = False,
                 prefix: str = "reag-eval") -> None:
        self.name, self.total, self.unit, self.prefix = name, total, unit, prefix
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval_s, self.disable = interval_s, disable
        self.done, self.busy_s = 0, 0.0
        self.computed: int | None = None  # samples the stage computed (None: not told); 0 means a no-op stage
        self.started: float | None = None
        self.closed = False
        self._bar: Any = None
        self._last_line = 0.0
        self._lock = threading.Lock()

    def start(self) -> None:
        if self.started is not None or self.disable:
            self.started = self.started or time.perf_counter()
            return
        self.started = time.perf_counter()
        self._last_line = self.started
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=f"{self.name:>8}", unit=self.unit, file=self.stream,
                             bar_format="{desc} {percentage:3.0f}%|{bar:24}| {n_fmt}/{total_fmt}{postfix}",
                             ncols=_screen()[0], nrows=_screen()[1], leave=True)
            self._bar.set_postfix_str(self._stats(), refresh=True)
        else:
            self._line(f"{self.name}: started ({self.total} {self.unit}s)")

    def _elapsed(self) -> float:
        return self.busy_s if self.busy_s > 0 else time.perf_counter() - (self.started or time.perf_counter())

    def _stats(self) -> str:
        if self.computed == 0 and self.done:
            return "cached"  # nothing computed: no rate (a no-op stage would show millions per second)
        elapsed = self._elapsed()
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        text = f"{_duration(elapsed)}, {rate:.2f} {self.unit}s/s"
        return text + (f", ETA {_duration(eta)}" if eta is not None and self.done < self.total else "")

    def _line(self, text: str) -> None:
        print(f"[{self.prefix}] {text}", file=self.stream, flush=True)
        self._last_line = time.perf_counter()

    def update(self, n: int, busy_s: float | None = None, computed: int | None = None) -> None:
        """``n`` more items done; the stage closes itself when all are done."""
        with self._lock:
            if self.closed:
                return
            self.start()
            self.done += n
            if computed is not None:
                self.computed = computed
            if busy_s is not None:
                self.busy_s = busy_s
            if self.disable:
                pass
            elif self._bar is not None:
                self._bar.set_postfix_str(self._stats(), refresh=False)
                self._bar.update(n)
            elif time.perf_counter() - self._last_line >= self.interval_s:
                self._line(f"{self.name}: {self.done}/{self.total} {self.unit}s, {self._stats()}")
        if self.done >= self.total:
            self.close()

    def heartbeat(self) -> None:
        """A progress line if the last one is ``interval_s`` old (log mode, stage running)."""
        with self._lock:
            if (not self.tty and not self.disable and not self.closed and self.started is not None
                    and time.perf_counter() - self._last_line >= self.interval_s):
                self._line(f"{self.name}: {self.done}/{self.total} {self.unit}s, {self._stats()} (running)")

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self.disable or self.started is None:
                return
            if self._bar is not None:
                self._bar.set_postfix_str(self._stats(), refresh=False)
                self._bar.close()
            else:
                stats = self._stats()
                how = "(cached)" if stats == "cached" else f"in {stats}"
                self._line(f"{self.name}: done {self.done}/{self.total} {self.unit}s {how}")


class Progress:
    """The run's stages: ``begin(stage)`` before a stage works, ``update(stage, n)`` after; one bar or
    one start/end pair of lines per stage. ``clocks`` maps a stage to an object with ``wall_s``."""

    def __init__(self, total: int, disable: bool = False, clocks: Mapping[str, Any] | None = None,
                 stream: TextIO | None = None, tty: bool | None = None, interval_s: float = INTERVAL_S) -> None:
        self.clocks = clocks or {}
        self.stages = {s: StageProgress(s, total, stream=stream, tty=tty, interval_s=interval_s,
                                        disable=disable or total == 0) for s in STAGES}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.active: str | None = None
        first = self.stages[STAGES[0]]
        if not first.tty and not first.disable:
            self._thread = threading.Thread(target=self._beat, name="reag-progress", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        interval = self.stages[STAGES[0]].interval_s
        while not self._stop.wait(min(interval, 5.0)):
            if self.active is not None:  # the stage working now (stages interleave chunk by chunk)
                self.stages[self.active].heartbeat()

    def begin(self, stage: str) -> None:
        if stage in self.stages:
            self.active = stage
            self.stages[stage].start()

    def update(self, stage: str, n: int) -> None:
        if stage in self.stages:
            clock = self.clocks.get(stage)
            self.stages[stage].update(n, getattr(clock, "wall_s", None) or None, getattr(clock, "computed", None))

    def stop(self) -> None:
        """Stop the heartbeat thread (also when the run fails: it must not outlive the run's streams)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def close(self) -> None:
        self.stop()
        for stage in self.stages.values():
            stage.close()


class Ticker:
    """Progress of a build that reports messages (``kb build``): one rewritten line on a TTY, else a
    line at most every ``interval_s`` seconds (the first and the last always)."""

    def __init__(self, name: str, stream: TextIO | None = None, tty: bool | None = None,
                 interval_s: float = INTERVAL_S) -> None:
        self.name, self.stream = name, stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval_s = interval_s
        self._last: float | None = None
        self._pending: str | None = None

    def __call__(self, msg: str) -> None:
        now = time.perf_counter()
        if self.tty:
            print(f"\r\x1b[2K[{self.name}] {msg}", end="", file=self.stream, flush=True)
            self._last = now
        elif self._last is None or now - self._last >= self.interval_s:
            print(f"[{self.name}] {msg}", file=self.stream, flush=True)
            self._last, self._pending = now, None
        else:
            self._pending = msg

    def close(self) -> None:
        if self.tty and self._last is not None:
            print(file=self.stream, flush=True)
        elif self._pending is not None:
            print(f"[{self.name}] {self._pending}", file=self.stream, flush=True)
