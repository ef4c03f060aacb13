"""Benchmark: making every KB page available via ``json.load`` (the reference) vs our memory-mapped store.

Writes a synthetic EVQA-style KB (``make_synthetic_kb.py``; 200k pages by default, ~1.4 GB), builds
the store once (timed), then measures in two fresh processes, side by side:

* time to make all pages available: ``json.load`` of the published JSON vs ``KBStore(dir)`` (the store's
  open time: it reads meta.json and maps the files, no page batch; tests/test_kb_store.py checks that
  laziness without timing it, since a wall-clock limit fails on a busy machine);
* RSS after that (and the interpreter + imports baseline, so the difference is honest) and peak RSS;
* random-lookup latency of ``passages(key)`` (store: hash index + memory-mapped Arrow; JSON: dict).

    python benchmarks/bench_kb.py                       # 200k pages
    python benchmarks/bench_kb.py --pages 3000 --skip-json   # seconds: the store's open time and lookups only
    python benchmarks/bench_kb.py --pages 2000000 --dir /big/disk   # the EVQA size (needs ~35 GB RAM for json)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rss_mb() -> float:
    """Current resident set size (MiB), from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def anon_mb() -> float:
    """Private (anonymous) resident memory, MiB: RSS minus file pages the kernel can drop at will."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _lookups(get, keys: list[str], n: int, seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    sample = [rng.choice(keys) for _ in range(n)]
    times = []
    chars = 0
    for k in sample:
        t0 = time.perf_counter()
        passages = get(k)
        times.append(time.perf_counter() - t0)
        chars += sum(len(p) for p in passages)
    times.sort()
    return {"lookup_mean_us": 1e6 * sum(times) / len(times), "lookup_p50_us": 1e6 * times[len(times) // 2],
            "lookup_p99_us": 1e6 * times[int(len(times) * 0.99)], "lookups": n, "chars_read": chars}


def measure(mode: str, path: str, n_lookups: int, n_pages: int) -> dict[str, float]:
    """Runs in a fresh process; prints one JSON line."""
    keys_rng = random.Random(1)
    from make_synthetic_kb import page_key  # noqa: E402  (benchmarks/ is sys.path[0])

    keys = [page_key(keys_rng.randrange(n_pages)) for _ in range(2000)]
    if mode == "json":
        base = rss_mb()
        t0 = time.perf_counter()
        with open(path) as f:
            kb = json.load(f)
        open_s = time.perf_counter() - t0
        after = rss_mb()
        stats = _lookups(lambda k: kb[k]["section_texts"], keys, n_lookups)
    else:
        import numpy  # noqa: F401  (imports belong to the baseline)
        import pyarrow  # noqa: F401

        from reag_harness.data.kb.store import KBStore

        base = rss_mb()
        t0 = time.perf_counter()
        kb = KBStore(path)
        open_s = time.perf_counter() - t0
        after = rss_mb()
        stats = _lookups(kb.passages, keys, n_lookups)
    return {"open_s": open_s, "rss_baseline_mb": base, "rss_after_open_mb": after, "rss_open_delta_mb": after - base,
            "rss_after_lookups_mb": rss_mb(), "anon_after_lookups_mb": anon_mb(), "peak_rss_mb": peak_mb(), **stats}


def _child(mode: str, path: str, n_lookups: int, n_pages: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--_measure", mode, "--_path", path, "--lookups", str(n_lookups),
           "--pages", str(n_pages)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} measurement failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="json.load vs memory-mapped store: open time, RSS, lookup latency")
    ap.add_argument("--pages", type=int, default=200_000)
    ap.add_argument("--dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "reag_kb_bench"))
    ap.add_argument("--lookups", type=int, default=5000)
    ap.add_argument("--skip-json", action="store_true", help="measure only the store (when RAM is short)")
    ap.add_argument("--_measure", help=argparse.SUPPRESS)
    ap.add_argument("--_path", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._measure:
        print(json.dumps(measure(args._measure, args._path, args.lookups, args.pages)))
        return 0

    sys.path[:0] = [str(HERE), str(HERE.parent)]
    from make_synthetic_kb import write_kb

    from reag_harness.data.kb.build import build_store

    work = Path(args.dir) / f"evqa-{args.pages}"
    kb_json, store = work / "kb.json", work / "store"
    stamp = work / "kb.done"
    if not stamp.is_file():
        t0 = time.perf_counter()
        write_kb(kb_json, args.pages, "evqa", seed=0)
        stamp.write_text(str(args.pages))
        print(f"wrote {kb_json} ({kb_json.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.1f} s")
    if not (store / "meta.json").is_file():
        t0 = time.perf_counter()
        meta = build_store(str(kb_json), str(store), "evqa")
        print(f"built store in {time.perf_counter() - t0:.1f} s: {meta['n_pages']:,} pages, "
              f"{meta['n_passages']:,} passages")
    size_gib = kb_json.stat().st_size / 2**30
    store_gib = sum(p.stat().st_size for p in store.iterdir()) / 2**30
    results = {"store": _child("store", str(store), args.lookups, args.pages)}
    if not args.skip_json:
        results["json"] = _child("json", str(kb_json), args.lookups, args.pages)

    print(f"\nKB: {args.pages:,} EVQA-style pages; JSON {size_gib:.2f} GiB, store {store_gib:.2f} GiB on disk")
    rows = [("time to all pages available (s)", "open_s", "{:.3f}"),
            ("RSS baseline: interpreter + imports (MiB)", "rss_baseline_mb", "{:.0f}"),
            ("RSS after open (MiB)", "rss_after_open_mb", "{:.0f}"),
            ("RSS added by open (MiB)", "rss_open_delta_mb", "{:.0f}"),
            ("peak RSS (MiB)", "peak_rss_mb", "{:.0f}"),
            (f"lookup passages(key), mean of {args.lookups} (us)", "lookup_mean_us", "{:.1f}"),
            ("lookup p50 (us)", "lookup_p50_us", "{:.1f}"),
            ("lookup p99 (us)", "lookup_p99_us", "{:.1f}"),
            ("RSS after the lookups (MiB)", "rss_after_lookups_mb", "{:.0f}"),
            ("  of which private/anonymous (MiB)", "anon_after_lookups_mb", "{:.0f}")]
    cols = [c for c in ("json", "store") if c in results]
    print(f"{'':48s}" + "".join(f"{c + ('.load' if c == 'json' else ''):>14s}" for c in cols))
    for label, key, fmt in rows:
        print(f"{label:48s}" + "".join(f"{fmt.format(results[c][key]):>14s}" for c in cols))
    if "json" in results:
        j, s = results["json"], results["store"]
        print(f"\nopen time ratio json/store: {j['open_s'] / max(s['open_s'], 1e-9):,.0f}x; "
              f"peak RSS ratio json/store: {j['peak_rss_mb'] / s['peak_rss_mb']:.1f}x; "
              f"RSS added by open ratio: {j['rss_open_delta_mb'] / max(s['rss_open_delta_mb'], 0.01):,.0f}x")
    print(json.dumps({"pages": args.pages, **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
