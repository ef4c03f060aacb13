"""The ``openai`` generator and ``openai-critic`` against a real Chat Completions server process
on 127.0.0.1 (tests/chat_server.py): data-URL images, retries, one-line errors, resume after
SIGKILL without paying twice, and the API key in no file a run wrote."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Runtime
from reag_harness.plugins.critics.openai_critic import OpenAICritic
from reag_harness.plugins.generators.openai_chat import OpenAIGenerator
from reag_harness.records import ChatRequest, Passage, Sample

from .chat_server import KEY, NO_YES_MARKER, digest


@pytest.fixture
def image(tmp_path) -> str:
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.new("RGB", (400, 100), (200, 30, 30)).save(path)
    return str(path)


def answer_for(prompt: str) -> str:
    """What the test server answers to ``prompt`` (before stop strings)."""
    return f"server reasoning</think><answer>ans-{digest(prompt) % 16**6:06x}</answer> trailing"


def request(image: str | None, text: str, **kw) -> ChatRequest:
    content = ([{"type": "image", "image": image}] if image else []) + [{"type": "text", "text": text}]
    return ChatRequest(messages=[{"role": "user", "content": content}], **kw)


def generator(srv, **args) -> OpenAIGenerator:
    return OpenAIGenerator(Runtime(), base_url=srv.url, model="M", retry_backoff=0.01, **args)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the client, in process --------------------------------------------------------------------------------
def test_images_arrive_as_resized_data_urls_with_the_key_from_the_environment(srv, image):
    gen = generator(srv, max_pixels=10_000)
    out = gen.generate([request(image, "what colour?")])
    state = srv.state()
    [seen] = state["images"]
    assert seen["data_url"] and seen["prefix"] == "data:image/png;base64,"
    w, h = seen["size"]
    assert w * h <= 10_000 and abs(w / h - 4.0) < 0.1  # resized, aspect kept
    assert state["tokens"] == [f"Bearer {KEY}"]
    assert out == [answer_for("what colour?")]
    assert gen.checkpoint == "served/M"  # the model id the server reported
    assert KEY not in json.dumps(gen.identity()) and KEY not in json.dumps(gen.args)


def test_prefix_continues_the_assistant_turn_and_the_matched_stop_string_is_kept(srv):
    gen = generator(srv)
    [raw] = gen.generate([request(None, "q", assistant_prefix="<think>", stop=("</answer>",))])
    assert raw.endswith("</answer>") and "trailing" not in raw and not raw.startswith("<think>")
    state = srv.state()
    assert state["continued"] == 1 and state["stops"] == [["</answer>"]]
    assert gen.deviations == []
    # a server that does not report which stop string matched: no stop string, and it is said
    srv.configure(report_stop_reason=False)
    gen = generator(srv, prefix_mode="omit")
    [raw] = gen.generate([request(None, "q2", assistant_prefix="<think>", stop=("</answer>",))])
    assert raw.endswith("ans-" + raw.split("ans-")[1]) and not raw.endswith("</answer>")
    assert srv.state()["continued"] == 1
    assert any("prefix_mode=omit" in d for d in gen.deviations)
    assert any("stop_reason" in d for d in gen.deviations)


def test_429_and_503_then_200_are_retried(srv):
    srv.configure(fail=[429, 503])
    gen = generator(srv)
    [raw] = gen.generate([request(None, "retry me")])
    assert "ans-" in raw
    state = srv.state()
    assert state["total"] == 3 and state["counts"] == {"retry me": 3} and state["answered"] == {"retry me": 1}
    assert gen.api.retries == 2


def test_a_client_error_is_not_retried_and_names_the_server(srv):
    srv.configure(fail=[400])
    with pytest.raises(HarnessError) as err:
        generator(srv).generate([request(None, "bad")])
    assert srv.url in str(err.value) and "HTTP 400" in str(err.value) and "\n" not in str(err.value)
    assert srv.state()["total"] == 1


def test_a_key_echoed_by_the_server_is_redacted_from_the_error(srv):
    srv.configure(fail=[401], echo_key_in_errors=True)
    with pytest.raises(HarnessError) as err:
        generator(srv).generate([request(None, "who am i")])
    assert "HTTP 401" in str(err.value) and "***" in str(err.value) and KEY not in str(err.value)


def test_an_answered_request_is_not_sent_again_in_the_same_process(srv):
    """--on-error skip re-runs a failed batch item by item: the answered items cost nothing."""
    srv.configure(fail=[None, 400])  # the first request passes, the second fails
    gen = generator(srv, max_concurrency=1)
    with pytest.raises(HarnessError):
        gen.generate([request(None, "fine"), request(None, "broken")])
    assert gen.generate([request(None, "fine")]) == [answer_for("fine")]
    assert srv.state()["counts"] == {"fine": 1, "broken": 1}


def test_retries_give_up_with_one_line(srv):
    srv.configure(fail=[500, 500, 500])
    with pytest.raises(HarnessError) as err:
        generator(srv, max_retries=2).generate([request(None, "always 500")])
    assert "HTTP 500" in str(err.value) and "after 3 attempts" in str(err.value)


def test_responses_reach_on_batch_as_they_arrive(srv):
    """A slow request does not hold back the others: they are handed over (to be persisted) first."""
    srv.configure(hang_at=1, hang_s=3.0)
    seen: list[int] = []
    gen = generator(srv, max_concurrency=3)
    out = gen.generate([request(None, f"q{i}") for i in range(3)], on_batch=lambda idx, res: seen.extend(idx))
    hung = srv.state()["hanging"]
    slow = int(hung[1:])
    assert seen[-1] == slow and sorted(seen) == [0, 1, 2]
    assert out == [answer_for(f"q{i}") for i in range(3)]  # returned in input order


def test_concurrency_is_bounded(srv):
    srv.configure(hang_at=1, hang_s=1.0)
    seen: list[int] = []
    generator(srv, max_concurrency=1).generate([request(None, f"c{i}") for i in range(2)],
                                               on_batch=lambda idx, res: seen.extend(idx))
    # with one slot the second request waited for the slow first one (with two it would finish first)
    assert srv.state()["hanging"] == "c0" and seen == [0, 1]


def test_missing_key_is_a_preflight_problem(srv, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    gen = generator(srv)
    [problem] = gen.preflight()
    assert "OPENAI_API_KEY" in problem and "api_key_env=none" in problem
    assert generator(srv, api_key_env="none").preflight() == []
    monkeypatch.setenv("MY_KEY", "x")
    assert generator(srv, api_key_env="MY_KEY").preflight() == []


def test_critic_reads_p_yes_from_top_logprobs(srv, image):
    critic = OpenAICritic(Runtime(), base_url=srv.url, model="M", top_n=2, retry_backoff=0.01)
    sample = Sample("s1", "which colour?", image)
    texts = ["red things", NO_YES_MARKER, "blue", "red things"]  # a duplicate passage is scored once
    pairs = [(sample, Passage("p", i, text)) for i, text in enumerate(texts)]
    probs = critic.p_yes(pairs)
    assert 0.05 <= probs[0] <= 0.95 and probs[1] == 0.0 and 0.05 <= probs[2] <= 0.95 and probs[3] == probs[0]
    assert any("1 of 4 pairs" in d for d in critic.deviations)
    assert srv.state()["total"] == 3
    assert srv.state()["images"][0]["data_url"]
    ident = json.dumps(critic.identity())
    assert "threshold" not in ident and "top_n" not in ident and "api_key_env" not in ident
    assert critic.top_n == 2
    srv.configure(logprobs_supported=False)
    with pytest.raises(HarnessError, match="no logprobs"):
        OpenAICritic(Runtime(), base_url=srv.url, model="M").p_yes(pairs[:1])


# ---- through the CLI -------------------------------------------------------------------------------------------
def cli(tmp_path: Path, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "reag_harness.cli", *args, "--output-dir", str(tmp_path / "runs"),
           "--cache-dir", str(tmp_path / "stages"), "--leaderboard", str(tmp_path / "leaderboard.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def cli_in_process(tmp_path: Path, capsys, *args: str) -> tuple[int, str]:
    """``reag-eval ARGS`` in this process (cheap): exit code and stderr."""
    from reag_harness.cli.app import main

    capsys.readouterr()
    code = main([*args, "--output-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "stages"),
                 "--no-leaderboard", "--quiet"])
    return code, capsys.readouterr().err


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in ([root] if root.is_file() else root.rglob("*"))
            if p.is_file()]


def test_acceptance_demo_run_and_the_key_is_in_no_file_written(srv, tmp_path, harness_cache):
    proc = cli(tmp_path, "--task", "demo", "--generator", "openai", "--generator-args",
               f"base_url={srv.url},model=M", "--limit", "4")
    [folder] = (tmp_path / "runs").iterdir()
    results = json.loads((folder / "results.json").read_text())
    gen = results["components"]["generator"]
    assert gen["name"] == "openai" and gen["checkpoint"] == "served/M"
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["raw_output"].endswith("</answer>") and r["answer"].startswith("ans-")
                                  for r in rows)
    state = srv.state()
    assert state["continued"] == 4 and all(i["data_url"] for i in state["images"]) and len(state["images"]) == 4
    assert set(state["tokens"]) == {f"Bearer {KEY}"}
    written = files_under(tmp_path, harness_cache)
    assert any(p.name == "leaderboard.json" for p in written) and len(written) > 5
    leaks = [str(p) for p in written if KEY.encode() in p.read_bytes()]
    assert leaks == [] and KEY not in proc.stdout + proc.stderr


NO_MODELS = ("--task", "demo", "--retriever", "none", "--critic", "none", "--prompt-style", "direct")


def test_dead_server_is_one_line_naming_the_url(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, err = cli_in_process(tmp_path, capsys, *NO_MODELS, "--generator", "openai", "--generator-args",
                               f"base_url={url},model=M,max_retries=2", "--limit", "2")
    assert code == 2 and "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("reag-eval: error:") and url in line and "cannot connect" in line and "3 attempts" in line


def test_missing_key_fails_before_any_stage(srv, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    code, err = cli_in_process(tmp_path, capsys, *NO_MODELS, "--generator", "openai", "--generator-args",
                               f"base_url={srv.url},model=M,api_key_env=REAG_TEST_KEY", "--limit", "2")
    assert code == 2 and "pre-flight" in err and "REAG_TEST_KEY" in err
    assert srv.state()["total"] == 0 and not (tmp_path / "stages").exists()


def test_sigkill_mid_run_then_rerun_sends_no_finished_request_twice(srv, tmp_path, capsys):
    """Four requests in flight at once; the 3rd to arrive hangs; the run is killed; the re-run
    asks again only for the one that had no answer (each answer was persisted as it arrived)."""
    srv.configure(hang_at=3, hang_s=600)
    args = [*NO_MODELS, "--generator", "openai", "--generator-args", f"base_url={srv.url},model=M,max_concurrency=4",
            "--limit", "4"]
    cmd = [sys.executable, "-m", "reag_harness.cli", *args, "--output-dir", str(tmp_path / "runs"),
           "--cache-dir", str(tmp_path / "stages"), "--no-leaderboard", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        deadline = time.monotonic() + 240
        while not ("hanging" in srv.state() and sum(srv.state()["answered"].values()) == 3):
            assert proc.poll() is None and time.monotonic() < deadline, "the run never reached the hanging request"
            time.sleep(0.2)
        time.sleep(2.0)  # the three answers have reached the client; the hanging one is in flight
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    first = srv.state()
    assert first["total"] == 4 and sum(first["answered"].values()) == 3
    hung = first["hanging"]
    srv.configure(hang_at=None)
    assert cli_in_process(tmp_path, capsys, *args)[0] == 0
    counts = srv.state()["counts"]
    assert len(counts) == 4
    assert {k: v for k, v in counts.items() if v > 1} == {hung: 2}  # only the unanswered one was sent again
    [folder] = (tmp_path / "runs").iterdir()
    timing = {t["stage"]: t for t in json.loads((folder / "results.json").read_text())["timings"]}
    assert timing["generate"]["n_cached"] == 3 and timing["generate"]["n_computed"] == 1
