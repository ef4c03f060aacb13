"""The harness's own cost at benchmark scale, with components that cost nothing (``reag_harness.plugins.zero_cost``).

Each size runs in fresh processes, ``reag-eval`` as a user runs it: fresh (from an empty stage
store), then fully cached (same store, new run folder), each ``--repeat`` times (default 3); the
least user CPU of the tries is reported, as ``timeit`` does (on shared cores other work only ever
adds time; every try is printed too). Printed per 1,000 questions: user CPU of both (minus a
20-question run's, i.e. without interpreter start and imports), peak RSS and its growth over the
20-question run, run-folder and stage-store size::

    python benchmarks/bench_scale.py                      # 1,000, 6,000 and 73,620 questions
    python benchmarks/bench_scale.py --sizes 1000         # one size
    python benchmarks/bench_scale.py --sizes 73620 --repeat 1 --work /big/tmp

Synthetic EVQA-style data: a 20,000-page KB with 8.75 passages per page on average and the top 20
pages per question, so ~175 passages per question reach the critic (``--sections 6.5`` gives the
~130 of InfoSeek val). Targets (per 1,000 questions of ~175 passages): fresh <= 3 s, cached
<= 0.5 s user CPU, peak RSS growth <= 50 MB; the 73,620-question run under 4 GB peak RSS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RUN = """
import sys
from reag_harness.plugins import zero_cost
from reag_harness.core.plugin_manager import register_plugin
register_plugin(zero_cost, "zero-cost")
from reag_harness.cli.app import main
sys.exit(main(sys.argv[1:]))
"""
BASE = 20  # questions of the run whose cost is subtracted (start-up, imports)


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def run_once(n: int, work: Path, stages: Path, out: Path, image: str, sections: float, top_k: int,
             chunk: int) -> dict[str, float]:
    """One ``reag-eval`` run in a child process: its user CPU, peak RSS and wall time."""
    args = [sys.executable, "-c", RUN, "--task", "zero-cost-synth",
            "--task-args", f"questions={n},image={image},sections={sections}",
            "--retriever-args", f"top_k={top_k}", "--device", "cpu", "--chunk-size", str(chunk),
            "--output-dir", str(out), "--cache-dir", str(stages), "--no-leaderboard", "--quiet"]
    env = {**os.environ, "REAG_HARNESS_CACHE": str(work / "harness-cache")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"run of {n} questions failed (exit {os.waitstatus_to_exitcode(status)})")
    return {"user": usage.ru_utime, "rss_mb": usage.ru_maxrss / 1024, "wall": wall}


def measure(n: int, work: Path, image: str, sections: float, top_k: int, chunk: int,
            repeat: int = 1) -> dict[str, Any]:
    """Fresh then cached, ``repeat`` times each (a fresh run starts from an empty store): the least user CPU
    of each, as ``timeit`` reports (other processes on shared cores only ever add time), and every try."""
    folder = work / f"n{n}"
    fresh_runs, cached_runs = [], []
    for _ in range(repeat):
        shutil.rmtree(folder, ignore_errors=True)
        stages = folder / "stages"
        fresh_runs.append(run_once(n, work, stages, folder / "runs-fresh", image, sections, top_k, chunk))
        size = {"run_folder": du(folder / "runs-fresh"), "store": du(stages)}
        shutil.rmtree(folder / "runs-fresh", ignore_errors=True)
    for _ in range(repeat):
        shutil.rmtree(folder / "runs-cached", ignore_errors=True)
        cached_runs.append(run_once(n, work, stages, folder / "runs-cached", image, sections, top_k, chunk))
    least = lambda runs: {"user": min(r["user"] for r in runs), "rss_mb": max(r["rss_mb"] for r in runs),  # noqa: E731
                          "wall": min(r["wall"] for r in runs), "tries": [r["user"] for r in runs]}
    return {"n": n, "fresh": least(fresh_runs), "cached": least(cached_runs), **size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,6000,73620", help="comma-separated question counts")
    ap.add_argument("--sections", type=float, default=8.75, help="mean passages per page (x top_k per question)")
    ap.add_argument("--top-k", type=int, default=20, help="pages per question")
    ap.add_argument("--chunk-size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each kind per size; the least user CPU is reported")
    ap.add_argument("--work", help="folder for stores and runs (default: a temporary folder, removed)")
    args = ap.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    from reag_harness.plugins.zero_cost import write_image

    image = write_image(work)
    try:
        base = measure(BASE, work, image, args.sections, args.top_k, args.chunk_size, max(args.repeat, 3))
        print(f"start-up ({BASE} questions): fresh {base['fresh']['user']:.2f} s user, cached "
              f"{base['cached']['user']:.2f} s user, peak RSS {base['fresh']['rss_mb']:.0f} MB")
        head = ("| questions | fresh user CPU /1k | cached user CPU /1k | peak RSS (fresh / cached) | "
                "RSS growth /1k | run folder /1k | store /1k | wall fresh / cached |")
        print(head)
        print("|---|---|---|---|---|---|---|---|")
        tries: list[str] = []
        for n in [int(x) for x in args.sizes.split(",") if x]:
            m = measure(n, work, image, args.sections, args.top_k, args.chunk_size, args.repeat)
            k = (n - BASE) / 1000
            fresh, cached = ((m[c]["user"] - base[c]["user"]) / k for c in ("fresh", "cached"))
            growth = (max(m["fresh"]["rss_mb"], m["cached"]["rss_mb"]) - base["fresh"]["rss_mb"]) / k
            print(f"| {n:,} | {fresh:.2f} s | {cached:.3f} s | {m['fresh']['rss_mb']:.0f} / "
                  f"{m['cached']['rss_mb']:.0f} MB | {growth:.1f} MB | {m['run_folder'] / n / 1000:.1f} MB | "
                  f"{m['store'] / n / 1000:.1f} MB | {m['fresh']['wall']:.0f} / {m['cached']['wall']:.0f} s |",
                  flush=True)
            tries.append(f"{n:,}: fresh {' '.join(f'{u:.2f}' for u in m['fresh']['tries'])}, cached "
                         f"{' '.join(f'{u:.2f}' for u in m['cached']['tries'])}")
            shutil.rmtree(work / f"n{n}", ignore_errors=True)
        print(f"user CPU of each try (s; start-up {' '.join(f'{u:.2f}' for u in base['fresh']['tries'])} / "
              f"{' '.join(f'{u:.2f}' for u in base['cached']['tries'])}): " + "; ".join(tries))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
