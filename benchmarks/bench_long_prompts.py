"""The EVQA-style long-prompt case: top 20 pages, every passage kept, on tiny checkpoints (CPU).

Synthetic EVQA data (``make_synthetic_kb.py``: ~12 sections of ~90 words per page), Google-Lens
style retrieval of 20 pages per question, no critic (every passage kept: the longest prompts),
the tiny Qwen2.5-VL generator with the ReAG reasoning prompt. Without a prompt policy such
prompts reach tens of thousands of tokens; here every model batch is bounded by tokens and
every prompt by ``max_prompt_tokens`` (truncation of the last passages, counted in
results.json). Measure peak memory with::

    /usr/bin/time -v python benchmarks/bench_long_prompts.py [--queries 60] [--critic none|tiny-critic]

(the script also prints its own peak RSS). ``--max-prompt-tokens`` / ``--max-batch-tokens``
change the bounds.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def synth():
    spec = importlib.util.spec_from_file_location("make_synthetic_kb", ROOT / "make_synthetic_kb.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def write_evqa_case(root: Path, queries: int, pages: int, top_k: int, words_median: float = 60.0,
                    image_size: int = 32) -> dict[str, str]:
    """Synthetic EVQA data with Lens entities of ``top_k`` pages per question; returns the task args.

    Pages have ~12 sections of ``words_median`` words (log-normal); images are noise of
    ``image_size`` x ``image_size`` pixels. The KB is built into a store (``reag-eval kb build``).
    """
    import json

    import numpy as np
    from PIL import Image

    mk = synth()
    maker = mk.PageMaker(0, words_median=words_median, words_sigma=0.3 if words_median > 60 else 0.9)
    with open(root / "kb.json", "w", encoding="utf-8") as f:
        f.write("{" + ", ".join(json.dumps(mk.page_key(i)) + ": " + json.dumps(maker.evqa_page(i))
                                for i in range(pages)) + "}")
    data = mk.write_evqa_queries(root / "q", queries, pages)
    rng = np.random.default_rng(0)
    for image in Path(data["images"]).iterdir():
        Image.fromarray(rng.integers(0, 255, (image_size, image_size, 3), dtype=np.uint8)).save(image)
    lens = root / "lens.csv"  # Lens entities: the gold page first, then other pages, top_k in all
    with open(data["lens"], encoding="utf-8") as src, open(lens, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["dataset_image_id", "lens_wiki_urls"])
        for i, row in enumerate(csv.DictReader(src)):
            first = eval(row["lens_wiki_urls"])[0]  # noqa: S307 - our own file, a list literal
            others = [mk.page_key((i * 7 + k) % pages) for k in range(top_k * 2)]
            writer.writerow([row["dataset_image_id"], repr([first] + [u for u in others if u != first][:top_k - 1])])
    built = subprocess.run([sys.executable, "-m", "reag_harness.cli", "kb", "build", "--task", "evqa", "--input",
                            str(root / "kb.json"), "--output", str(root / "store"), "--quiet"],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(built.stderr)
    return {"kb": str(root / "store"), "queries": str(data["queries"]), "images": str(data["images"]),
            "lens": str(lens), "no_bem": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--critic", default="none", help="none (every passage kept) or tiny-critic")
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--max-prompt-tokens", default="auto")
    parser.add_argument("--max-batch-tokens", default="auto")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", default="8")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="reag-bench-long-"))
    os.environ.setdefault("REAG_HARNESS_CACHE", str(tmp / "cache"))
    task_args = write_evqa_case(tmp, args.queries, args.pages, args.top_k)
    from reag_harness.api import evaluate

    critic_args = {"threshold": args.threshold, "max_batch_tokens": args.max_batch_tokens} \
        if args.critic != "none" else {}
    batch = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    t0 = time.perf_counter()
    results = evaluate(
        task="evqa", task_args=task_args,
        retriever="google-lens", retriever_args={"top_k": args.top_k}, critic=args.critic, critic_args=critic_args,
        generator="tiny-qwen2.5-vl", generator_args={"max_new_tokens": args.max_new_tokens,
                                                     "max_prompt_tokens": args.max_prompt_tokens,
                                                     "max_batch_tokens": args.max_batch_tokens},
        prompt_style="reag-reasoning", output_dir=str(tmp / "runs"), quiet=True, no_leaderboard=True, cache=False,
        batch_size=batch)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    passages = next(t.items for t in results.timings if t.stage == "retrieve")
    print(f"EVQA-style: {results.n} queries, top {args.top_k} pages ({passages} passages, "
          f"{passages / max(1, results.n):.0f} per query), critic {args.critic}, tiny generator, batch {batch}")
    print(f"prompts (tokens): judge {results.prompts.get('judge')}")
    print(f"                  generate {results.prompts.get('generate')}")
    print(f"errors {results.errors}; wall {wall:.1f}s; peak RSS {peak:.2f} GiB (this process)")


if __name__ == "__main__":
    main()
