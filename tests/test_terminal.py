"""What a run prints: one bar per stage on a terminal (pseudo-terminal), plain lines in a log."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from reag_harness.core.progress import Progress, Ticker

STAGES = ("retrieve", "judge", "generate", "score")


def run_in_pty(argv: list[str]) -> tuple[int, str]:
    """Run ``argv`` with stdin/stdout/stderr on a pseudo-terminal; return its exit code and everything it wrote."""
    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.execvpe(argv[0], argv, dict(os.environ))
    out = bytearray()
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        out.extend(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", errors="replace")


def test_terminal_shows_one_bar_per_stage_and_ends_with_the_results_path(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "reag_harness.cli", "--task", "demo", "--limit", "3", "--output-dir",
            str(tmp_path / "runs"), "--no-leaderboard"]
    code, text = run_in_pty(argv)
    assert code == 0, text[-3000:]
    lines = text.replace("\r\n", "\n").split("\n")
    for stage in STAGES:
        bars = [line for line in lines if re.search(rf"(^|\r)\s*{stage} +\d+%\|", line)]
        assert len(bars) == 1, (stage, bars)  # one bar, redrawn in place on one line
        assert bars[0].rstrip().split("\r")[-1].lstrip().startswith(f"{stage} 100%|"), bars[0]
    assert sum("%|" in line for line in lines) == len(STAGES)  # no other bar (model loading, shards)
    for noise in ("Loading weights", "Writing model shards", "WARNING", "Warning"):
        assert noise not in text, noise
    assert "=None" not in text  # the component lines leave out None defaults
    last = [line for line in lines if line.strip()][-1]
    results = Path(last.split()[-1])
    assert last.strip().startswith("results") and results.name == "results.json" and results.is_file()
    # the same run written to a log file: no bars, a start and an end line per stage
    log = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert log.returncode == 0, log.stderr[-2000:]
    assert "\r" not in log.stderr and "%|" not in log.stderr
    for stage in STAGES:
        assert f"[reag-eval] {stage}: started (3 samples)" in log.stderr
        # this second run computes nothing but the scores: a no-op stage says "cached", not a rate
        done = "in " if stage == "score" else r"\(cached\)"
        assert re.search(rf"\[reag-eval\] {stage}: done 3/3 samples {done}", log.stderr), log.stderr
    assert "stages: retrieve cached (3), judge cached (3), generate cached (3), score" in log.stdout


def test_log_mode_prints_a_progress_line_during_a_long_stage() -> None:
    out = io.StringIO()
    clocks = {s: type("Clock", (), {"wall_s": 0.0})() for s in STAGES}
    progress = Progress(4, clocks=clocks, stream=out, tty=False, interval_s=0.05)
    progress.begin("judge")
    time.sleep(0.4)  # one long model call: the heartbeat still writes (at most one line per interval)
    clocks["judge"].wall_s = 2.0
    progress.update("judge", 4)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[reag-eval] judge: started (4 samples)"
    running = [line for line in lines if "(running)" in line]
    assert 1 <= len(running) <= 8 and running[0].startswith("[reag-eval] judge: 0/4 samples")
    assert lines[-1] == "[reag-eval] judge: done 4/4 samples in 2s, 2.00 samples/s"  # the stage's own time
    assert not [line for line in lines if line.startswith(("[reag-eval] retrieve", "[reag-eval] score"))]


def test_build_ticker_writes_lines_not_carriage_returns_in_a_log() -> None:
    out = io.StringIO()
    tick = Ticker("kb build", stream=out, tty=False, interval_s=60)
    for i in range(1, 6):
        tick(f"{i * 1000} pages")
    tick.close()
    assert out.getvalue() == "[kb build] 1000 pages\n[kb build] 5000 pages\n"  # the first and the last
    tty = io.StringIO()
    tick = Ticker("kb build", stream=tty, tty=True)
    tick("1 pages")
    tick.close()
    assert tty.getvalue().startswith("\r") and tty.getvalue().endswith("\n")


def test_a_run_that_fails_leaves_no_heartbeat_thread(tmp_path: Path, monkeypatch) -> None:
    """The heartbeat thread of the progress lines stops with the run, also when a stage raises: before, it
    went on printing to the caller's (closed) stream after an in-process run failed."""
    import threading

    import pytest

    from reag_harness.api import evaluate
    from reag_harness.core.errors import HarnessError
    from reag_harness.pipeline.stage_generate import GenerateStage

    def boom(self, *args, **kwargs):
        raise HarnessError("generation failed")

    monkeypatch.setattr(GenerateStage, "run", boom)
    with pytest.raises(HarnessError, match="generation failed"):
        evaluate(task="demo", retriever="none", critic="none", limit=1, quiet=False, no_leaderboard=True,
                 output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    assert not [t for t in threading.enumerate() if t.name == "reag-progress" and t.is_alive()]
