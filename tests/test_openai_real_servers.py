"""The ``openai`` generator and ``openai-critic`` against real servers nobody here wrote, each started by
the test on 127.0.0.1 on a tiny checkpoint built offline:

* ``transformers serve`` on the tiny Qwen2.5-VL: the default ReAG prompt stops at once with the
  server's own reason and the fix (prefix_mode=omit), then runs end to end with it; the server
  refuses ``stop`` on an image model, so stop_mode=auto cuts on our side; the critic fails in one
  line naming the server (it returns no logprobs).
* the llama-cpp-python server on a GGUF converted from the tiny Llama (where the package is
  installed): text as plain strings, a silently ignored ``continue_final_message`` caught, the
  generator with prefix_mode=omit, and the critic's P("Yes") from real top-20 logprobs.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from .real_servers import llama_cpp_server, transformers_serve
from .test_openai_api import KEY, cli_in_process, files_under

HAS_SERVE = importlib.util.find_spec("fastapi") is not None and importlib.util.find_spec("accelerate") is not None
HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("gguf") is not None


def results(tmp_path: Path) -> tuple[dict, list[dict]]:
    [folder] = [f for f in (tmp_path / "runs").iterdir() if (f / "results.json").is_file()]
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return json.loads((folder / "results.json").read_text()), rows


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[reag-eval]")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---- transformers serve ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tserve(harness_cache, tmp_path_factory):
    if not HAS_SERVE:
        pytest.skip("transformers serve needs fastapi, uvicorn and accelerate (pip install -e '.[dev]')")
    from reag_harness.models.tiny.qwen import tiny_qwen25vl_path

    checkpoint = tiny_qwen25vl_path()
    with transformers_serve(checkpoint, tmp_path_factory.mktemp("tserve") / "server.log") as url:
        yield url, str(checkpoint)


def test_default_reag_prompt_through_transformers_serve(tserve, tmp_path, capsys, monkeypatch):
    url, model = tserve
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the server needs none; sent anyway, it must be written nowhere
    args = ["--task", "demo", "--retriever", "none", "--critic", "none", "--generator", "openai", "--limit", "2"]
    gen_args = f"base_url={url},model={model},max_new_tokens=12,retry_backoff=0.01"
    code, err = cli_in_process(tmp_path, capsys, *args, "--generator-args", gen_args)
    line = one_line(err)  # the server refuses the assistant-prefix fields: its reason, and the fix
    assert code == 2 and url in line and "HTTP 422" in line and "continue_final_message" in line
    assert "prefix_mode=omit" in line
    code, err = cli_in_process(tmp_path, capsys, *args, "--generator-args", gen_args + ",prefix_mode=omit")
    assert code == 0, err
    res, rows = results(tmp_path)
    assert res["components"]["generator"]["checkpoint"] == model
    assert len(rows) == 2 and all(r["error"] is None and isinstance(r["raw_output"], str) for r in rows)
    devs = res["deviations"]
    assert any("stop_mode=auto chose client" in d and "HTTP 500" in d for d in devs), devs
    assert any("prefix_mode=omit" in d for d in devs)
    leaks = [str(p) for p in files_under(tmp_path) if KEY.encode() in p.read_bytes()]
    assert leaks == []


def test_the_critic_on_transformers_serve_fails_in_one_line_naming_the_server(tserve, tmp_path, capsys):
    url, model = tserve
    code, err = cli_in_process(tmp_path, capsys, "--task", "demo", "--generator", "openai",
                               "--generator-args", f"base_url={url},model={model},api_key_env=none,prefix_mode=omit",
                               "--critic", "openai-critic", "--critic-args",
                               f"base_url={url},model={model},api_key_env=none", "--limit", "1")
    line = one_line(err)
    assert code == 2 and url in line and "no logprobs" in line


# ---- llama-cpp-python -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def llama_server(harness_cache, tmp_path_factory):
    if not HAS_LLAMA_CPP:
        pytest.skip("llama-cpp-python (with its server extra) and gguf are not installed: "
                    "pip install 'llama-cpp-python[server]' gguf (builds llama.cpp from source, ~10+ min on 2 cores)")
    from .tiny_gguf import tiny_llama_gguf

    folder = tmp_path_factory.mktemp("llama")
    gguf = tiny_llama_gguf(folder / "tiny-llama.gguf")
    with llama_cpp_server(gguf, folder / "server.log") as url:
        yield url


def test_generator_and_critic_on_llama_cpp_server(llama_server, tmp_path, capsys):
    url = llama_server
    base = f"base_url={url},model=tiny-llama,api_key_env=none,retry_backoff=0.01"
    args = ["--task", "demo", "--retriever", "none", "--critic", "none", "--generator", "openai", "--limit", "2",
            "--prompt-style", "reag-reasoning", "--prompt-style-args", "text_only=true"]
    code, err = cli_in_process(tmp_path, capsys, *args, "--generator-args", base + ",max_new_tokens=8")
    line = one_line(err)  # llama-cpp-python ignores continue_final_message: caught, with the fix
    assert code == 2 and url in line and "ignores continue_final_message" in line and "prefix_mode=omit" in line
    code, err = cli_in_process(tmp_path, capsys, *args, "--generator-args", base + ",max_new_tokens=8,prefix_mode=omit")
    assert code == 0, err
    _, rows = results(tmp_path)
    assert all(r["error"] is None and isinstance(r["raw_output"], str) for r in rows)

    # a text model's server answers a request with an image (it pastes the data URL in as text): caught
    from PIL import Image

    from reag_harness.core.errors import HarnessError
    from reag_harness.interfaces import Runtime
    from reag_harness.plugins.critics.openai_critic import OpenAICritic
    from reag_harness.records import Passage, Sample

    Image.new("RGB", (64, 48), (1, 2, 3)).save(tmp_path / "q.png")
    with pytest.raises(HarnessError, match="images=false"):
        OpenAICritic(Runtime(), base_url=url, model="tiny-llama", api_key_env="none").p_yes(
            [(Sample("s", "q?", str(tmp_path / "q.png")), Passage("p", 0, "t"))])
    # the random tiny Llama ranks "Yes" far down: ask for its whole vocabulary, and compare with transformers
    critic = OpenAICritic(Runtime(), base_url=url, model="tiny-llama", api_key_env="none", images=False,
                          top_logprobs=2100)
    texts = ["A myrtle warbler.", "Unrelated text."]
    probs = critic.p_yes([(Sample("s", "Which bird?", None), Passage("p", i, t)) for i, t in enumerate(texts)])
    assert [p_yes_transformers(t) for t in texts] == pytest.approx(probs, rel=0.25)  # float32 llama.cpp vs torch


def p_yes_transformers(passage: str) -> float:
    """P("Yes") of the critic chat on the tiny Llama through transformers (the same chat template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reag_harness.models.openai_api import to_openai_messages
    from reag_harness.models.tiny.vlms import tiny_checkpoint
    from reag_harness.prompts.reag import critic_messages

    src = tiny_checkpoint("llama")
    tok, model = AutoTokenizer.from_pretrained(src), AutoModelForCausalLM.from_pretrained(src).eval()
    messages = to_openai_messages(critic_messages(None, "Which bird?", passage), 1, images=False)
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    with torch.no_grad():
        probs = model(torch.tensor([ids])).logits[0, -1].float().softmax(-1)
    return float(probs[tok.convert_tokens_to_ids("Yes")])


def test_a_wrong_model_id_shows_the_servers_reason(tserve):
    from reag_harness.core.errors import HarnessError
    from reag_harness.interfaces import Runtime
    from reag_harness.plugins.generators.openai_chat import OpenAIGenerator
    from reag_harness.records import ChatRequest

    url, _ = tserve
    gen = OpenAIGenerator(Runtime(), base_url=url, model="no-such-model", api_key_env="none")
    with pytest.raises(HarnessError) as err:
        gen.generate([ChatRequest(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])])
    message = str(err.value)
    assert url in message and "HTTP 400" in message and "no-such-model" in message and "pinned" in message
