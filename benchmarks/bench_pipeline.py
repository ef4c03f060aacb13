"""Per-stage throughput of the demo pipeline on tiny checkpoints (CPU): batched vs batch 1.

The batch-1 loop follows the reference's algorithm (one query at a time through every stage,
one critic forward per passage, one generation per query); the batched run moves chunks of
queries through each stage with batched model calls. Both are measured in this one process,
with the stage cache off, so the ratio compares like with like. Then the cache: a second run
with another generator reuses retrieval and critic records.

    python benchmarks/bench_pipeline.py [--limit 24] [--batch-size 16]

``--realistic``: the whole pipeline at real shapes instead (synthetic EVQA data: 448x448
images, ~300-token sections, Lens top 11 pages = ~130 passages per query; the random
``bench``-size Qwen2.5-VL of ``bench_critic.py`` as critic and generator): queries/s with the
shared-prefix critic vs per-pair, both batched, in this one process.

    python benchmarks/bench_pipeline.py --realistic [--limit 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from reag_harness.api import evaluate
from reag_harness.data.retrieval.query_cache import clear_embedding_cache


def stage_times(results) -> dict[str, float]:
    return {t.stage: t.wall_s for t in results.timings}


def realistic(limit: int, batch_size: int, threads: int) -> None:
    """Pipeline queries/s at real sequence shapes: shared-prefix critic vs per-pair."""
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_long_prompts import write_evqa_case

    from reag_harness.models.tiny.sized_qwen import write_sized_qwen25vl

    torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp(prefix="reag-bench-real-"))
    os.environ.setdefault("REAG_HARNESS_CACHE", str(tmp / "cache"))
    task_args = write_evqa_case(tmp, limit, 60, 11, words_median=230, image_size=448)
    ckpt = str(write_sized_qwen25vl("bench", tmp / "ckpt"))
    common = dict(task="evqa", task_args=task_args, retriever="google-lens", retriever_args={"top_k": 11},
                  critic="reag-critic", generator="qwen-vl", prompt_style="reag-reasoning",
                  generator_args={"pretrained": ckpt, "max_new_tokens": 32}, batch_size=batch_size, quiet=True,
                  no_leaderboard=True, output_dir=str(tmp / "runs"), cache=False, chunk_size=limit)
    runs, totals = {}, {}
    for prefix in (True, False):
        t0 = time.perf_counter()
        runs[prefix] = evaluate(**common, critic_args={"pretrained": ckpt, "threshold": 0.1, "prefix_cache": prefix})
        totals[prefix] = time.perf_counter() - t0
    shared = runs[True]
    passages = next(t.items for t in shared.timings if t.stage == "judge")
    print(f"realistic shapes: {limit} queries, {passages / limit:.0f} passages/query, judge prompts "
          f"{shared.prompts['judge']}, generate prompts max {shared.prompts['generate'].get('max')} tokens; "
          f"random 'bench' Qwen2.5-VL, {shared.device}, {threads} threads, batch {batch_size}")
    print(f"{'critic':<22}{'judge s':>9}{'passages/s':>12}{'generate s':>12}{'total s':>9}{'queries/s':>11}")
    for prefix, name in ((False, "per-pair (batched)"), (True, "shared prefix")):
        t = stage_times(runs[prefix])
        print(f"{name:<22}{t['judge']:>9.2f}{passages / t['judge']:>12.2f}{t['generate']:>12.2f}"
              f"{totals[prefix]:>9.2f}{limit / totals[prefix]:>11.3f}")
    ratio = stage_times(runs[False])["judge"] / stage_times(runs[True])["judge"]
    print(f"critic stage speed-up {ratio:.2f}x; pipeline {totals[False] / totals[True]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--realistic", action="store_true", help="real sequence shapes (see above)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for --realistic")
    args = parser.parse_args()
    if args.realistic:
        realistic(args.limit or 2, args.batch_size, args.threads)
        return
    args.limit = args.limit or 24
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
