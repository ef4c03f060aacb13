"""Critic passages/s and generation tokens/s of a real-size Qwen2.5-VL-3B *config* with random weights.

Goes through the harness's own loader, critic and generator (``pretrained=`` a folder written
here), so it measures what a ReAG-3B / ReAG-Critic run would cost on this GPU, without the
weights. ``--size 3b`` (default) needs a GPU; ``--size tiny`` runs anywhere and only checks the
code path. The tiny checkpoint's tokenizer and processor are reused (token ids stay < vocab).

    python benchmarks/bench_qwen_real_size.py [--size 3b|tiny] [--passages 256] [--queries 16]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

SIZES = ("3b", "tiny")


def write_checkpoint(size: str, device: str, out: Path) -> Path:
    """The random checkpoint: ``3b`` from :mod:`reag_harness.models.tiny.sized_qwen`, ``tiny`` a copy of the
    tiny one."""
    from reag_harness.models.tiny.qwen import tiny_qwen25vl_path
    from reag_harness.models.tiny.sized_qwen import write_sized_qwen25vl

    if size == "tiny":
        shutil.copytree(tiny_qwen25vl_path(), out)
        return out
    return write_sized_qwen25vl(size, out, device, "bfloat16" if device.startswith("cuda") else "float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="3b")
    parser.add_argument("--passages", type=int, default=256)
    parser.add_argument("--queries", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", default="auto")
    args = parser.parse_args()
    import torch

    from reag_harness.interfaces import Runtime
    from reag_harness.plugins.critics.qwen_critic import QwenVLCritic
    from reag_harness.plugins.generators.qwen_vl import QwenVLGenerator
    from reag_harness.plugins.prompt_styles.reag_reasoning import ReagReasoning
    from reag_harness.records import Passage
    from reag_harness.tasks.demo.task import DemoTask

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.size == "3b" and device == "cpu":
        print("--size 3b needs a GPU: checking the code path with --size tiny instead (make bench on CPU)")
        args.size = "tiny"
    batch = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    runtime = Runtime(device=device, dtype="bfloat16" if device == "cuda" else "float32", batch_size=batch)
    task = DemoTask(runtime)
    samples = task.samples()
    kb = task.knowledge_base()
    texts = [t for k in kb.keys() for t in kb.passages(k)]
    pairs = [(samples[i % len(samples)], Passage("p", i, texts[i % len(texts)] * 4)) for i in range(args.passages)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ckpt = write_checkpoint(args.size, device, Path(tmp) / "ckpt")
        print(f"random {args.size} checkpoint written in {time.perf_counter() - t0:.1f}s ({device})")
        critic = QwenVLCritic(runtime, pretrained=str(ckpt), threshold=0.1)
        critic.p_yes(pairs[:4])  # load + warm up
        t0 = time.perf_counter()
        critic.p_yes(pairs)
        dt = time.perf_counter() - t0
        print(f"critic: {args.passages} passages in {dt:.2f}s = {args.passages / dt:.1f} passages/s")
        style = ReagReasoning(runtime)
        requests = [style.build(s, [Passage("p", 0, texts[i])], "demo") for i, s in enumerate(samples[:args.queries])]
        generator = QwenVLGenerator(runtime, pretrained=str(ckpt), max_new_tokens=args.max_new_tokens)
        generator.generate(requests[:2])
        t0 = time.perf_counter()
        outs = generator.generate(requests)
        dt = time.perf_counter() - t0
        from transformers import AutoTokenizer

        tokens = sum(len(AutoTokenizer.from_pretrained(ckpt)(o)["input_ids"]) for o in outs)
        print(f"generator: {len(requests)} queries, ~{tokens} new tokens (re-tokenised) in {dt:.2f}s "
              f"= {tokens / dt:.1f} tokens/s")


if __name__ == "__main__":
    main()
