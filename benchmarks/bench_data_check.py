"""How long ``reag-eval data check`` takes on a 60k-page EVQA KB (the acceptance asks for < 10 s).

Writes a synthetic 60k-page KB, builds its store, 1,000 questions with images and a 60k-row
FAISS index (random vectors), then times the check through the CLI (a fresh process, imports
included) with the oracle retriever and with ``tiny-eva-clip`` on that index (which imports torch).

    python benchmarks/bench_data_check.py --out /tmp/bench_check [--pages 60000 --queries 1000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def synth():
    spec = importlib.util.spec_from_file_location("make_synthetic_kb", HERE / "make_synthetic_kb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--pages", type=int, default=60_000)
    ap.add_argument("--queries", type=int, default=1_000)
    args = ap.parse_args()
    out = Path(args.out)
    mk = synth()
    if not (out / "store" / "meta.json").exists():
        mk.write_kb(out / "kb.json", args.pages, "evqa")
        mk.write_evqa_queries(out / "q", args.queries, args.pages)
        subprocess.run([sys.executable, "-m", "reag_harness.cli", "kb", "build", "--task", "evqa", "--input",
                        str(out / "kb.json"), "--output", str(out / "store"), "--quiet"], check=True)
        from reag_harness.data.retrieval.faiss_index import build_index

        keys = [mk.page_key(i) for i in range(args.pages)]
        vectors = np.random.default_rng(0).standard_normal((len(keys), 32)).astype(np.float32)
        build_index(vectors, keys, out / "index")
    task_args = f"kb={out / 'store'},queries={out / 'q' / 'queries.json'},images={out / 'q' / 'images'}," \
                f"index={out / 'index'},no_bem=true"
    for retriever in (["--retriever", "oracle-page"], ["--retriever", "tiny-eva-clip", "--retriever-args",
                                                        f"index={out / 'index'}"]):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "reag_harness.cli", "data", "check", "--task", "evqa",
                               "--task-args", task_args, *retriever, "--json"], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        report = json.loads(proc.stdout)
        print(f"{args.pages:,} pages, {args.queries:,} questions, {retriever[1]}: exit {proc.returncode}, "
              f"{wall:.2f} s wall (process), {report['seconds']:.2f} s in the checks; "
              + ", ".join(f"{c['name']}={c['status']}" for c in report["checks"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
