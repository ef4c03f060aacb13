"""Per-stage throughput of the demo pipeline on tiny checkpoints (CPU): batched vs batch 1.

The batch-1 loop follows the reference's algorithm (one query at a time through every stage,
one critic forward per passage, one generation per query); the batched run moves chunks of
queries through each stage with batched model calls. Both are measured in this one process,
with the stage cache off, so the ratio compares like with like. Then the cache: a second run
with another generator reuses retrieval and critic records.

    python benchmarks/bench_pipeline.py [--limit 24] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from reag_harness.api import evaluate
from reag_harness.plugins.retrievers.eva_clip import clear_embedding_cache


def stage_times(results) -> dict[str, float]:
    return {t.stage: t.wall_s for t in results.timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="reag-bench-")
    os.environ.setdefault("REAG_HARNESS_CACHE", os.path.join(tmp, "cache"))
    common = dict(task="demo", limit=args.limit, quiet=True, no_leaderboard=True, output_dir=os.path.join(tmp, "runs"))
    evaluate(**{**common, "limit": 2}, cache=False)  # build the tiny checkpoints and the index, warm up
    clear_embedding_cache()
    one = evaluate(**common, cache=False, batch_size=1, chunk_size=1)
    clear_embedding_cache()
    many = evaluate(**common, cache=False, batch_size=args.batch_size, chunk_size=args.limit)
    t1, tb = stage_times(one), stage_times(many)
    print(f"demo pipeline, {args.limit} queries, tiny checkpoints, device {many.device}")
    print(f"{'stage':<10}{'batch-1 s':>11}{'batched s':>11}{'speed-up':>10}{'batched q/s':>13}")
    for stage in ("retrieve", "judge", "generate"):
        ratio = t1[stage] / tb[stage] if tb[stage] else float("nan")
        print(f"{stage:<10}{t1[stage]:>11.3f}{tb[stage]:>11.3f}{ratio:>9.2f}x{args.limit / tb[stage]:>13.1f}")
    passages = next(t.items for t in many.timings if t.stage == "judge")
    print(f"critic: {passages} passages, {passages / tb['judge']:.1f} passages/s batched, "
          f"{passages / t1['judge']:.1f} passages/s batch-1")
    cache_dir = os.path.join(tmp, "stages")
    t0 = time.perf_counter()
    clear_embedding_cache()
    evaluate(**common, cache_dir=cache_dir, batch_size=args.batch_size)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = evaluate(**common, cache_dir=cache_dir, batch_size=args.batch_size,
                      generator_args={"max_new_tokens": 12})
    again = time.perf_counter() - t0
    cached = {t.stage: t.n_cached for t in second.timings}
    print(f"cache: first run {first:.2f}s; another generator {again:.2f}s "
          f"(retrieval cached {cached['retrieve']}/{args.limit}, critic cached {cached['judge']}/{args.limit}); "
          f"saved {first - again:.2f}s")


if __name__ == "__main__":
    main()
