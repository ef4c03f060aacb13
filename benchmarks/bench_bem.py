"""BEM throughput: examples/s batched vs one at a time (as the official code calls it), with the tiny model.

    python benchmarks/bench_bem.py [--n 512] [--batch-size 64] [--model DIR --vocab FILE]

With ``--model``/``--vocab`` pointing at the real BEM SavedModel the same comparison runs on it.
The tiny model isolates the harness's own overhead (tokenisation, input building, one TF call per batch).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="examples to score (default 512)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", help="BEM SavedModel directory (default: the tiny model)")
    parser.add_argument("--vocab", help="vocab file (default: the tiny vocab)")
    args = parser.parse_args()

    import numpy as np

    from reag_harness.core.paths import tiny_dir
    from reag_harness.models.tiny.bem import TINY_VOCAB, build_tiny_bem
    from reag_harness.tasks.evqa.bem import BemScorer

    if args.model and args.vocab:
        model, vocab, label = args.model, args.vocab, "BEM at " + args.model
    else:
        model, vocab = build_tiny_bem(tiny_dir("bem"))
        label = "tiny BEM (harness overhead only)"
    rng = np.random.default_rng(0)
    words = [w for w in TINY_VOCAB[5:] if not w.startswith("##")]

    def sentence(lo: int, hi: int) -> str:
        return " ".join(rng.choice(words, size=int(rng.integers(lo, hi))))

    cands = [sentence(1, 12) for _ in range(args.n)]
    refs = [sentence(1, 5) for _ in range(args.n)]
    qs = [sentence(5, 15) for _ in range(args.n)]

    batched = BemScorer(str(model), str(vocab), batch_size=args.batch_size)
    single = BemScorer(str(model), str(vocab), batch_size=1)
    batched.scores(cands[:2], refs[:2], qs[:2])  # load and trace once, outside the timings
    single.scores(cands[:1], refs[:1], qs[:1])

    t0 = time.perf_counter()
    p_batched = batched.scores(cands, refs, qs)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    p_single = [single.scores([c], [r], [q])[0] for c, r, q in zip(cands, refs, qs)]
    t_single = time.perf_counter() - t0

    rate_b, rate_s = args.n / t_batched, args.n / t_single
    agree = sum((a >= 0.5) == (b >= 0.5) for a, b in zip(p_batched, p_single))
    print(f"{label}: {args.n} examples")
    print(f"  batched (batch_size={args.batch_size}): {rate_b:10.1f} examples/s")
    print(f"  one at a time:                {rate_s:10.1f} examples/s")
    print(f"  speed-up: {rate_b / rate_s:.1f}x; max |p_batched - p_single| = "
          f"{max(abs(a - b) for a, b in zip(p_batched, p_single)):.2e}; same decision {agree}/{args.n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
