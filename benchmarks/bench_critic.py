"""Critic passages/s at real sequence shapes: batch 1 vs batched per-pair vs shared prefix.

A random-weight Qwen2.5-VL with scaled-down widths (``bench`` in
:mod:`reag_harness.models.tiny.sized_qwen`, so it runs on 2 CPU cores) scores ReAG critic chats
whose *shapes* are real: 448x448-class images (hundreds of image tokens at the default
``max_pixels=301056``), ~300-token passages (InfoSeek's 300-token sentence packs), ~130
passages per query (the paper's 128.6). Three ways, in this one process, same pairs:

  (a) reference style: one forward pass per passage (``prefix_cache=false``, batch 1);
  (b) batched per-pair: length-sorted batches of whole sequences (``prefix_cache=false``);
  (c) shared prefix: each query's image + prefix once, passages batched as suffixes
      (``prefix_cache=true``, the default).

It prints passages/s, the ratios c/b and c/a, the max |p_yes(c) - p_yes(b)| and the shapes.
The default run is short (1 query); ``--full`` takes 4 queries x 130 passages.

    python benchmarks/bench_critic.py [--queries 1] [--passages 130] [--batch-size 16] [--threads 2] [--full]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

WORDS = ("the river tower bird passage question built century cathedral mountain Paris named designed city "
         "wrought iron lattice Champ de Mars engineer company highest sea level range species order prides "
         "fastest animals flows through museum architect opened visitors flowers plant grows country").split()


def make_images(root: Path, n: int, seed: int = 0) -> list[str]:
    """Noise images of 448x448-class sizes (each -> 256..352 image tokens at max_pixels=301056)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    sizes = [(448, 448), (504, 448), (560, 448), (448, 476)]
    paths = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        path = root / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def make_passage(tokenizer, rng: random.Random, target: int) -> str:
    """Random words until the passage is about ``target`` tokens long."""
    words: list[str] = []
    while len(tokenizer(" ".join(words))["input_ids"]) < target:
        words += rng.choices(WORDS, k=max(1, (target - len(words)) // 2))
    return " ".join(words)


def build_pairs(tokenizer, images: list[str], passages: int, seed: int = 0):
    from reag_harness.records import Passage, Sample

    rng = random.Random(seed)
    pairs = []
    for q, image in enumerate(images):
        sample = Sample(f"q{q}", f"What is the name of this {rng.choice(WORDS)} and who built it?", image)
        for i in range(passages):
            pairs.append((sample, Passage(f"page{q}", i, make_passage(tokenizer, rng, rng.randint(200, 400)))))
    return pairs


def timed(critic, pairs) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    values = critic.p_yes(pairs)
    return time.perf_counter() - t0, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1)
    parser.add_argument("--passages", type=int, default=130)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--size", default="bench", help="a size of reag_harness.models.tiny.sized_qwen "
                        "(bench, mid, 3b)")
    parser.add_argument("--full", action="store_true", help="4 queries x 130 passages")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the issue's 2 cores)")
    parser.add_argument("--skip-batch1", action="store_true", help="leave out (a), the slowest")
    args = parser.parse_args()
    if args.full:
        args.queries, args.passages = 4, 130
    import torch
    from PIL import Image

    from reag_harness.interfaces import Runtime
    from reag_harness.models.qwen_vl import load_qwen_processor, prompt_length
    from reag_harness.models.tiny.sized_qwen import write_sized_qwen25vl
    from reag_harness.plugins.critics.qwen_critic import QwenVLCritic

    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = "bfloat16" if device == "cuda" else "float32"
    tmp = Path(tempfile.mkdtemp(prefix="reag-bench-critic-"))
    os.environ.setdefault("REAG_HARNESS_CACHE", str(tmp / "cache"))
    ckpt = write_sized_qwen25vl(args.size, tmp / "ckpt", device, dtype)
    processor = load_qwen_processor(str(ckpt))
    images = make_images(tmp, args.queries)
    pairs = build_pairs(processor.tokenizer, images, args.passages)

    def critic(prefix: bool, batch: int) -> QwenVLCritic:
        runtime = Runtime(device=device, dtype=dtype, batch_size=batch)
        return QwenVLCritic(runtime, pretrained=str(ckpt), threshold=0.1, prefix_cache=prefix)

    shared = critic(True, args.batch_size)
    prompts = shared.prompts(processor, pairs)
    lengths = [prompt_length(processor, p) for p in prompts]
    prefix_len = prompt_length(processor, type(prompts[0])(shared.prefix_text(processor, pairs[0][0]),
                                                           prompts[0].images))
    ip = processor.image_processor
    with Image.open(images[0]) as im:
        image_size = f"{im.size[0]}x{im.size[1]}"
        grid = processor(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[im.convert("RGB")],
                         return_tensors="pt")["image_grid_thw"][0]
    image_tokens = int(grid.prod()) // ip.merge_size ** 2
    passage_tokens = [len(processor.tokenizer(p.text)["input_ids"]) for _, p in pairs]
    print(f"shapes: {args.queries} queries x {args.passages} passages; image {image_size} -> "
          f"{image_tokens} image tokens; critic prompt {min(lengths)}..{max(lengths)} tokens "
          f"(mean {sum(lengths) / len(lengths):.0f}); shared prefix {prefix_len} tokens (incl. image); passage "
          f"{min(passage_tokens)}..{max(passage_tokens)} tokens (mean {sum(passage_tokens) / len(passage_tokens):.0f})")
    cfg = shared.model_and_processor()[0].config
    print(f"model: random Qwen2.5-VL '{args.size}' (text {cfg.text_config.num_hidden_layers}x"
          f"{cfg.text_config.hidden_size}, vision {cfg.vision_config.depth}x{cfg.vision_config.hidden_size}), "
          f"{device} {dtype}, torch threads {torch.get_num_threads()}, batch {args.batch_size}")
    shared.p_yes(pairs[:3])  # load and warm up
    n = len(pairs)
    print(f"{'mode':<26}{'seconds':>9}{'passages/s':>12}", flush=True)

    def run(name: str, c: QwenVLCritic) -> tuple[float, list[float]]:
        t, values = timed(c, pairs)
        print(f"{name:<26}{t:>9.2f}{n / t:>12.2f}", flush=True)
        return t, values

    t_c, p_c = run("(c) shared prefix", shared)
    t_b, p_b = run("(b) batched per-pair", critic(False, args.batch_size))
    t_a = None
    others = [p_b]
    if not args.skip_batch1:
        t_a, p_a = run("(a) batch 1 (reference)", critic(False, 1))
        others.append(p_a)
    print(f"speed-up c/b = {t_b / t_c:.2f}x" + (f", c/a = {t_a / t_c:.2f}x, b/a = {t_a / t_b:.2f}x" if t_a else ""))
    diff = max(abs(x - y) for p in others for x, y in zip(p_c, p))
    rel = max(abs(x - y) / max(y, 1e-30) for p in others for x, y in zip(p_c, p))
    print(f"max |p_yes(shared) - p_yes(per-pair)| = {diff:.2e} (max relative {rel:.2e}) over {n} pairs; "
          f"p_yes range {min(p_c):.2e}..{max(p_c):.2e}")


if __name__ == "__main__":
    main()
