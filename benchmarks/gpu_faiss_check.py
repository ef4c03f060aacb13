"""GPU FAISS check: an index in the released layout moved to the GPU by the retriever's own loader
(``load_index(folder, device="cuda")`` -> ``faiss.index_cpu_to_gpu``) returns the same hits as on CPU.

Builds a random flat inner-product index (``--rows`` x ``--dim``, L2-normalised), searches ``--queries``
queries for ``--k`` rows on CPU and on the GPU, and compares: the same row ids (ties aside) and scores
within 1e-3. Prints both search times and their ratio. Exit 0 when they agree, 1 when not, 2 when no
GPU FAISS is available (``pip install 'reag-harness[gpu]'`` installs faiss-gpu-cu12).
``--cpu-smoke`` runs the same path with the second load on CPU too (no GPU needed), for CI.

    python benchmarks/gpu_faiss_check.py [--rows 200000 --dim 768 --queries 256 --k 20] [--cpu-smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--queries", type=int, default=256)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--device", default="cuda", help="the GPU device (cuda, cuda:1)")
    ap.add_argument("--cpu-smoke", action="store_true", help="compare CPU with CPU (checks the path, no GPU)")
    args = ap.parse_args(argv)

    from reag_harness.data.retrieval.faiss_index import _faiss, build_index, load_index

    faiss = _faiss()
    device = "cpu" if args.cpu_smoke else args.device
    if not args.cpu_smoke and not (hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0):
        print("gpu_faiss_check: this faiss has no GPU support (faiss-cpu?): pip install 'reag-harness[gpu]'",
              file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.rows, args.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(args.rows, args.queries, replace=False)] + 0.05 * rng.standard_normal(
        (args.queries, args.dim)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        build_index(vectors, [f"key{i}" for i in range(args.rows)], tmp)
        cpu = load_index(tmp, "cpu", mmap=False)
        other = load_index(tmp, device, mmap=False)
        if not args.cpu_smoke and not other.info.get("gpu"):
            print(f"gpu_faiss_check: the index stayed on CPU: {other.info}", file=sys.stderr)
            return 1
        cpu.search_raw(queries[:4], args.k)  # warm-up
        other.search_raw(queries[:4], args.k)
        t0 = time.perf_counter()
        s_cpu, r_cpu = cpu.search_raw(queries, args.k)
        t_cpu = time.perf_counter() - t0
        t0 = time.perf_counter()
        s_dev, r_dev = other.search_raw(queries, args.k)
        t_dev = time.perf_counter() - t0
    same_ids = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(r_cpu.tolist(), r_dev.tolist())]))
    max_diff = float(np.abs(s_cpu - s_dev).max())
    ok = same_ids >= 0.999 and max_diff < 1e-3
    where = "cpu (smoke)" if args.cpu_smoke else f"{device} {other.info}"
    print(f"gpu_faiss_check: {args.rows:,} x {args.dim} flat IP, {args.queries} queries, k={args.k}: "
          f"cpu {t_cpu * 1e3:.1f} ms, {where} {t_dev * 1e3:.1f} ms (x{t_cpu / max(t_dev, 1e-9):.1f}); "
          f"same ids {same_ids:.4f}, max score diff {max_diff:.2e}: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
