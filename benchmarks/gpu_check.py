"""The GPU check's measurements (run by ``benchmarks/gpu_check.sh``; ``--cpu-smoke`` checks the path on CPU).

On one GPU, with a random-weight Qwen2.5-VL-3B (published architecture, bf16) and ReAG
critic chats at real shapes (448x448-class images, ~300-token passages, 130 per query):

- critic passages/s per-pair vs shared prefix, with sdpa and (if installed) flash-attention 2,
  and the bf16 agreement of shared-prefix vs per-pair P(Yes);
- critic passages/s and generation tokens/s through vLLM (if installed);
- generation tokens/s with transformers (batched);
- the out-of-memory back-off exercised once (a memory cap makes the first batch fail);
- a projection of GPU-hours for InfoSeek val (73,620 queries x 128.6 passages + one generation each).

``--cpu-smoke``: the same steps with the ``mid`` size, a few passages and tokens, on CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

INFOSEEK_VAL_QUERIES = 73_620
PASSAGES_PER_QUERY = 128.6


def line(text: str) -> None:
    print(text, flush=True)


def timed(fn, *args, **kwargs):
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true")
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--passages", type=int, default=None)
    parser.add_argument("--gen-queries", type=int, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=None)
    args = parser.parse_args()
    import torch
    from bench_critic import build_pairs, make_images

    from reag_harness.interfaces import Runtime
    from reag_harness.models import qwen_vl
    from reag_harness.models.tiny.sized_qwen import write_sized_qwen25vl
    from reag_harness.plugins.critics.qwen_critic import QwenVLCritic
    from reag_harness.plugins.generators.qwen_vl import QwenVLGenerator
    from reag_harness.plugins.prompt_styles.reag_reasoning import ReagReasoning

    smoke = args.cpu_smoke
    cuda = torch.cuda.is_available() and not smoke
    if not cuda and not smoke:
        line("no CUDA device: run with --cpu-smoke to check the path on CPU")
        return 2
    device, dtype, size = ("cuda", "bfloat16", "3b") if cuda else ("cpu", "bfloat16", "mid")
    queries = args.queries or (4 if cuda else 1)
    passages = args.passages or (130 if cuda else 6)
    gen_queries = args.gen_queries or (64 if cuda else 2)
    max_new = args.max_new_tokens or (256 if cuda else 4)
    name = torch.cuda.get_device_name(0) if cuda else "CPU"
    memory = f", {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB" if cuda else ""
    line(f"== gpu_check {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {name}{memory}; torch "
         f"{torch.__version__}; size {size} {dtype}; {'CPU SMOKE (path check, numbers meaningless)' if smoke else ''}")
    tmp = Path(tempfile.mkdtemp(prefix="reag-gpu-check-"))
    os.environ.setdefault("REAG_HARNESS_CACHE", str(tmp / "cache"))
    t, ckpt = timed(write_sized_qwen25vl, size, tmp / "ckpt", device, dtype)
    line(f"random Qwen2.5-VL '{size}' written in {t:.1f}s")
    processor = qwen_vl.load_qwen_processor(str(ckpt))
    pairs = build_pairs(processor.tokenizer, make_images(tmp, queries), passages)
    n = len(pairs)
    results: dict[str, float] = {}

    attns = ["sdpa"]
    try:
        import flash_attn  # noqa: F401

        if cuda:
            attns.append("flash_attention_2")
    except ImportError:
        line("flash-attention 2: not installed (skipped)")
    for attn in attns:
        def critic(prefix: bool, batch: int | str = "auto", attn: str = attn) -> QwenVLCritic:
            return QwenVLCritic(Runtime(device=device, dtype=dtype, batch_size=batch), pretrained=str(ckpt),
                                threshold=0.1, prefix_cache=prefix, attn_implementation=attn)

        shared, per_pair = critic(True), critic(False)
        shared.p_yes(pairs[:2])  # load + warm up
        per_pair.p_yes(pairs[:2])
        t_pp, p_pp = timed(per_pair.p_yes, pairs)
        t_sp, p_sp = timed(shared.p_yes, pairs)
        diff = max(abs(a - b) for a, b in zip(p_sp, p_pp))
        rel = max(abs(a - b) / max(b, 1e-6) for a, b in zip(p_sp, p_pp))
        results[f"critic_{attn}_per_pair"] = n / t_pp
        results[f"critic_{attn}_shared"] = n / t_sp
        line(f"critic [{attn}] {n} passages: per-pair {n / t_pp:.1f} passages/s, shared prefix {n / t_sp:.1f} "
             f"passages/s ({t_pp / t_sp:.2f}x); bf16 agreement max|dp|={diff:.2e} (max rel {rel:.2e}); "
             f"prompt p95 {sorted(shared.prompt_lengths)[int(0.95 * (len(shared.prompt_lengths) - 1))]} tokens")

    # generation (transformers, batched): ReAG reasoning prompts with 3 passages each, fixed new tokens
    style = ReagReasoning(Runtime())
    samples = [pairs[(i * passages) % n][0] for i in range(gen_queries)]
    requests = [style.build(s, [pairs[(i + k) % n][1] for k in range(3)], "infoseek") for i, s in enumerate(samples)]
    generator = QwenVLGenerator(Runtime(device=device, dtype=dtype, batch_size="auto"), pretrained=str(ckpt),
                                max_new_tokens=max_new, min_new_tokens=max_new)
    generator.generate(requests[:1])
    t_gen, _ = timed(generator.generate, requests)
    results["gen_tokens_s"] = gen_queries * max_new / t_gen
    results["gen_queries_s"] = gen_queries / t_gen
    line(f"generation [transformers, batch auto] {gen_queries} queries x {max_new} new tokens: "
         f"{results['gen_tokens_s']:.1f} tokens/s, {results['gen_queries_s']:.2f} queries/s "
         f"(prompt p95 {sorted(generator.prompt_tokens(r) for r in requests)[int(0.95 * (len(requests) - 1))]} tokens)")

    # the OOM back-off, once: cap the process's memory so that the first batch cannot fit
    if cuda:
        shrinks: list[int] = []
        oom_critic = QwenVLCritic(Runtime(device=device, dtype=dtype, batch_size="auto"), pretrained=str(ckpt),
                                  threshold=0.1, prefix_cache=False, max_batch_tokens="none")
        oom_critic._auto_start = 512
        real_shrink = oom_critic._remember_batch_size
        oom_critic._remember_batch_size = lambda size: (shrinks.append(size), real_shrink(size))  # type: ignore
        used = torch.cuda.memory_allocated()
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(0.95, (used + 6 * 2**30) / total))
        try:
            t_oom, _ = timed(oom_critic.p_yes, pairs[:512] if n >= 512 else (pairs * (512 // n + 1))[:512])
            line(f"OOM back-off: batch 512 -> {' -> '.join(map(str, shrinks)) or 'no shrink needed'}; "
                 f"completed in {t_oom:.1f}s")
        except Exception as exc:  # noqa: BLE001
            line(f"OOM back-off: FAILED {type(exc).__name__}: {exc}")
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0)
            torch.cuda.empty_cache()
    else:
        line("OOM back-off: CPU has no out-of-memory error to back off from (skipped; tests/test_oom_backoff.py)")

    # vLLM (optional)
    try:
        import vllm  # noqa: F401
    except ImportError:
        line("vLLM: not installed (skipped)")
    else:
        if not cuda:
            line("vLLM: needs a GPU (skipped)")
        else:
            try:
                del generator
                qwen_vl.clear_cache()
                torch.cuda.empty_cache()
                vcritic = QwenVLCritic(Runtime(device=device, dtype=dtype), pretrained=str(ckpt), threshold=0.1,
                                       backend="vllm", gpu_memory_utilization=0.6)
                vcritic.p_yes(pairs[:2])
                t_v, _ = timed(vcritic.p_yes, pairs)
                results["critic_vllm"] = n / t_v
                vgen = QwenVLGenerator(Runtime(device=device, dtype=dtype), pretrained=str(ckpt), backend="vllm",
                                       max_new_tokens=max_new, gpu_memory_utilization=0.6)
                t_vg, texts = timed(vgen.generate, requests)
                new_tokens = sum(len(processor.tokenizer(t)["input_ids"]) for t in texts)  # re-tokenised
                results["gen_vllm_tokens_s"] = new_tokens / t_vg
                results["gen_vllm_queries_s"] = gen_queries / t_vg
                line(f"vLLM: critic {n / t_v:.1f} passages/s (prefix caching); generation "
                     f"{results['gen_vllm_tokens_s']:.1f} tokens/s, {results['gen_vllm_queries_s']:.2f} queries/s")
            except Exception as exc:  # noqa: BLE001
                line(f"vLLM: FAILED {type(exc).__name__}: {exc}")
                traceback.print_exc()

    # projection for InfoSeek val
    passages_total = INFOSEEK_VAL_QUERIES * PASSAGES_PER_QUERY
    best_critic = max(v for k, v in results.items() if k.startswith("critic_"))
    best_gen = max(results.get("gen_vllm_queries_s", 0.0), results["gen_queries_s"])
    hours_critic = passages_total / best_critic / 3600
    hours_gen = INFOSEEK_VAL_QUERIES / best_gen / 3600
    line(f"projection, InfoSeek val ({INFOSEEK_VAL_QUERIES} queries x {PASSAGES_PER_QUERY} passages = "
         f"{passages_total / 1e6:.2f}M critic passes + {INFOSEEK_VAL_QUERIES} generations of {max_new} tokens), "
         f"one {name}: critic {hours_critic:.1f} h at {best_critic:.1f} passages/s + generation {hours_gen:.1f} h at "
         f"{best_gen:.2f} queries/s = {hours_critic + hours_gen:.1f} GPU-hours"
         + (" (CPU smoke: meaningless)" if smoke else ""))
    line("gpu_check: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
