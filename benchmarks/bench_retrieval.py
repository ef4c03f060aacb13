"""Batched vs one-at-a-time image retrieval (encoding + FAISS search) with the tiny open_clip EVA model.

    .venv/bin/python benchmarks/bench_retrieval.py [--queries 64] [--rows 200000] [--top-k 20]

Both paths go through the ``tiny-eva-clip`` retriever over the same flat inner-product index
(random rows plus the queries' own embeddings); the embedding cache is cleared before each
timed pass, so both encode every image. The model is tiny, so the numbers measure the
harness's overheads (image loading, per-call work, FAISS BLAS batching), not EVA-CLIP-8B.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_retrieval_"))
    os.environ.setdefault("REAG_HARNESS_CACHE", str(tmp / "cache"))
    from reag_harness.data.retrieval.faiss_index import build_index
    from reag_harness.data.retrieval.query_cache import clear_embedding_cache
    from reag_harness.interfaces import Runtime
    from reag_harness.plugins.retrievers import eva_clip
    from reag_harness.records import Sample

    class KB:  # keys only; passages are not what is measured
        def __init__(self, keys: list[str]) -> None:
            self._keys = set(keys)

        def __contains__(self, key: object) -> bool:
            return key in self._keys

        def __len__(self) -> int:
            return len(self._keys)

        def keys(self) -> list[str]:
            return sorted(self._keys)

        def title(self, key: str) -> str:
            return key

        def passages(self, key: str) -> list[str]:
            return ["x"]

        def fingerprint(self) -> str:
            return "bench"

    rng = np.random.RandomState(0)
    samples = []
    for i in range(args.queries):
        path = tmp / f"q{i}.jpg"
        Image.fromarray(rng.randint(0, 256, (240, 320, 3), dtype=np.uint8)).save(path)
        samples.append(Sample(id=str(i), question="What is this?", image=str(path)))

    probe = eva_clip.tiny_eva_clip(Runtime(), top_k=args.top_k, batch_size=args.batch_size)
    own = probe.embed_images([s.image for s in samples])
    noise = rng.randn(args.rows, own.shape[1]).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    vectors = np.concatenate([own, noise])
    keys = [f"page{i // 3}" for i in range(len(vectors))]  # three rows per page, as in the EVQA image index
    index_dir = build_index(vectors, keys, tmp / "index")
    kb = KB(keys)
    r = eva_clip.tiny_eva_clip(Runtime(), index=str(index_dir), top_k=args.top_k, batch_size=args.batch_size)
    r.retrieve(samples[:2], kb)  # load model and index

    def timed(fn) -> tuple[float, list]:
        clear_embedding_cache()
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out

    t_one, one = timed(lambda: [r.retrieve([s], kb)[0] for s in samples])
    t_batch, batch = timed(lambda: r.retrieve(samples, kb))
    same = all([k for k, _ in a.pages] == [k for k, _ in b.pages] for a, b in zip(one, batch, strict=True))
    t_cached, _ = time.perf_counter(), r.retrieve(samples, kb)
    t_cached = time.perf_counter() - t_cached
    print(f"tiny-eva-clip: {args.queries} queries, index {len(vectors)} rows x {vectors.shape[1]} dims (Flat IP), "
          f"top_k {args.top_k}, batch {args.batch_size}, torch threads {__import__('torch').get_num_threads()}")
    print(f"  one at a time : {t_one:.3f} s  ({args.queries / t_one:.1f} queries/s)")
    print(f"  batched       : {t_batch:.3f} s  ({args.queries / t_batch:.1f} queries/s)")
    print(f"  batched, cached embeddings: {t_cached:.3f} s  ({args.queries / t_cached:.1f} queries/s)")
    print(f"  speed-up batched / one-at-a-time: {t_one / t_batch:.2f}x; same pages: {same}")


if __name__ == "__main__":
    main()
