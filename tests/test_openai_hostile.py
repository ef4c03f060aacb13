"""The OpenAI-compatible client against a hostile server process on 127.0.0.1 (tests/chat_server.py
``mode``): every value from the server is checked, errors name the server and carry its reason,
nothing bad is cached, and the test key is in no file any of these runs wrote."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Runtime
from reag_harness.models.openai_checks import MIN_KEY_RUN, mask_secret
from reag_harness.plugins.critics.openai_critic import OpenAICritic
from reag_harness.plugins.generators.openai_chat import OpenAIGenerator
from reag_harness.records import Passage, Sample

from .test_openai_api import KEY, cli_in_process, files_under, request

NO_MODELS = ("--task", "demo", "--retriever", "none", "--critic", "none", "--prompt-style", "direct")
WRITTEN: list[Path] = []  # every folder a run of this module wrote (checked for the key at the end)


@pytest.fixture
def image(tmp_path) -> str:
    from PIL import Image

    path = tmp_path / "q.png"
    Image.new("RGB", (64, 48), (20, 90, 200)).save(path)
    return str(path)


def generator(srv, **args) -> OpenAIGenerator:
    return OpenAIGenerator(Runtime(), base_url=srv.url, model="M", retry_backoff=0.01, **args)


def critic(srv, **args) -> OpenAICritic:
    return OpenAICritic(Runtime(), base_url=srv.url, model="M", retry_backoff=0.01, **args)


def fails(call, *needles: str) -> str:
    """``call()`` raises a one-line HarnessError holding every needle; the message."""
    with pytest.raises(HarnessError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


def no_key_piece(text: str) -> bool:
    """No run of MIN_KEY_RUN characters of the key in ``text``."""
    return mask_secret(text, KEY) == text


# ---- answers that break the protocol ------------------------------------------------------------------
def test_content_that_is_not_a_string_is_an_error_naming_the_server(srv):
    srv.configure(mode="content_int")
    fails(lambda: generator(srv).generate([request(None, "q")]), srv.url, "content must be a string", "int")
    assert srv.state()["total"] == 1  # a broken answer is not asked again


def test_a_body_that_is_not_json_is_an_error_not_retried(srv):
    srv.configure(mode="non_json")
    fails(lambda: generator(srv).generate([request(None, "q")]), srv.url, "not JSON")
    assert srv.state()["total"] == 1


def test_a_trickling_server_cannot_hold_a_request_past_the_timeout(srv):
    srv.configure(mode="trickle")  # ~60 bytes at one byte per second
    t0 = time.monotonic()
    fails(lambda: generator(srv, timeout=2, max_retries=0).generate([request(None, "q")]), srv.url,
          "timeout=2s")
    assert time.monotonic() - t0 < 20  # the old per-read timeout let it run the whole minute


@pytest.mark.parametrize("mode", ["logprob_nan", "logprob_pos"])
def test_a_logprob_that_is_not_a_log_probability_is_an_error(srv, mode):
    srv.configure(mode=mode)
    pairs = [(Sample("s", "q?", None), Passage("p", 0, "text"))]
    fails(lambda: critic(srv).p_yes(pairs), srv.url, "logprob")


def test_the_critic_without_logprobs_names_the_server(srv):
    srv.configure(logprobs_supported=False)
    pairs = [(Sample("s", "q?", None), Passage("p", 0, "text"))]
    fails(lambda: critic(srv).p_yes(pairs), srv.url, "no logprobs")


# ---- error answers ---------------------------------------------------------------------------------------
def test_422_detail_is_shown_with_the_prefix_hint_and_not_retried(srv):
    srv.configure(mode="detail_422")
    fails(lambda: generator(srv).generate([request(None, "q", assistant_prefix="<think>")]), srv.url, "HTTP 422",
          "Unexpected fields", "continue_final_message", "prefix_mode=omit")
    assert srv.state()["total"] == 1


def test_a_500_that_reports_validation_errors_is_not_retried(srv):
    srv.configure(mode="validation_500")
    fails(lambda: generator(srv, max_retries=3).generate([request(None, "q")]), srv.url, "HTTP 500",
          "validation errors", "valid string")
    assert srv.state()["total"] == 1


def test_a_long_error_quoting_the_key_never_shows_a_piece_of_it(srv):
    srv.configure(mode="key_long_error")  # 280 characters, then the key: a cut at 300 kept its first 20
    message = fails(lambda: generator(srv).generate([request(None, "q")]), srv.url, "HTTP 401")
    assert no_key_piece(message) and KEY[:MIN_KEY_RUN] not in message


def test_an_answer_quoting_the_key_is_an_error(srv):
    srv.configure(mode="echo_key")
    message = fails(lambda: generator(srv).generate([request(None, "q")]), srv.url, "contains the API key")
    assert no_key_piece(message)


# ---- real-server behaviours -------------------------------------------------------------------------------
def test_a_server_refusing_stop_is_answered_with_client_side_stops(srv):
    srv.configure(mode="stop_500")  # transformers serve with an image model
    gen = generator(srv)
    [raw] = gen.generate([request(None, "q", stop=("</answer>",))])
    assert raw.endswith("</answer>") and "trailing" not in raw  # cut after the stop string on our side
    assert [b.get("stop") for b in srv.state()["bodies"]] == [["</answer>"], None]
    [dev] = [d for d in gen.deviations if "stop_mode=auto chose client" in d]
    assert "HTTP 500" in dev and "Internal Server Error" in dev
    assert not any("no stop_reason" in d for d in gen.deviations)
    gen.generate([request(None, "q2", stop=("</answer>",))])  # later requests no longer send stop
    assert srv.state()["bodies"][-1].get("stop") is None


def test_the_stop_deviation_is_only_said_of_answers_without_the_stop_string(srv):
    srv.configure(report_stop_reason=False)
    gen = generator(srv, stop_mode="client")  # the text comes back whole: it holds the stop string
    [raw] = gen.generate([request(None, "q", stop=("</answer>",))])
    assert raw.endswith("</answer>") and not any("no stop_reason" in d for d in gen.deviations)
    gen = generator(srv, stop_mode="server")  # the server cut it off and does not say so
    [raw] = gen.generate([request(None, "q3", stop=("</answer>",))])
    assert not raw.endswith("</answer>")
    assert any("1 answer(s) ended without a stop string" in d for d in gen.deviations)


def test_a_server_ignoring_continue_final_message_is_caught(srv):
    srv.configure(mode="ignore_prefix")  # llama-cpp-python
    fails(lambda: generator(srv).generate([request(None, "q", assistant_prefix="<think>")]), srv.url,
          "ignores continue_final_message", "prefix_mode=omit")
    assert srv.state()["total"] == 0
    assert generator(srv, prefix_mode="omit").generate([request(None, "q", assistant_prefix="<think>")])[0]


def test_a_text_only_server_is_caught_and_images_false_sends_text_as_a_string(srv, image):
    srv.configure(mode="text_only")
    fails(lambda: generator(srv).generate([request(image, "q")]), srv.url, "images=false")
    assert srv.state()["total"] == 0
    gen = generator(srv, images=False)
    [raw] = gen.generate([request(image, "what is it?")])
    assert raw and srv.state()["images"] == [] and any("images=false" in d for d in gen.deviations)
    critic_ = critic(srv, images=False)
    assert 0 <= critic_.p_yes([(Sample("s", "q?", image), Passage("p", 0, "t"))])[0] <= 1


def test_vllm_refusing_images_on_a_text_model_says_images_false(srv, image):
    srv.configure(mode="vllm_text")
    fails(lambda: critic(srv).p_yes([(Sample("s", "q?", image), Passage("p", 0, "t"))]), srv.url,
          "HTTP 400", "not a multimodal model", "images=false")
    assert 0 <= critic(srv, images=False).p_yes([(Sample("s", "q?", image), Passage("p", 0, "t"))])[0] <= 1


def test_text_only_content_is_a_plain_string(srv):
    gen = generator(srv)
    gen.generate([request(None, "plain")])
    body = gen.body(request(None, "plain"))
    assert body["messages"] == [{"role": "user", "content": "plain"}]


def test_reasoning_content_is_read_back_for_the_parser(srv):
    srv.configure(mode="reasoning")
    [raw] = generator(srv).generate([request(None, "q", assistant_prefix="<think>", stop=("</answer>",))])
    assert raw.startswith("server reasoning</think><answer>ans-") and raw.endswith("</answer>")


def test_extra_sampling_args_and_extra_body_are_merged(srv):
    gen = generator(srv, top_k=1, extra_body={"repetition_penalty": 1.1}, max_tokens_field="max_completion_tokens")
    gen.generate([request(None, "q", assistant_prefix="<think>")])
    [body] = srv.state()["bodies"]
    assert body["top_k"] == 1 and body["repetition_penalty"] == 1.1 and body["continue_final_message"] is True
    assert body["add_generation_prompt"] is False and "max_completion_tokens" in body and "max_tokens" not in body


@pytest.mark.parametrize("component", ["generator", "critic"])
def test_api_key_as_an_argument_is_refused(srv, component):
    make = generator if component == "generator" else critic
    message = fails(lambda: make(srv, api_key=KEY), "api_key_env")
    assert no_key_piece(message)


# ---- through the CLI: skip, not cached, and the key nowhere -----------------------------------------------
def run(tmp_path: Path, capsys, srv, *extra: str) -> tuple[int, str]:
    WRITTEN.append(tmp_path)
    return cli_in_process(tmp_path, capsys, *NO_MODELS, "--generator", "openai", "--generator-args",
                          f"base_url={srv.url},model=M,retry_backoff=0.01", "--limit", "2", *extra)


def samples(tmp_path: Path) -> list[dict]:
    [folder] = (tmp_path / "runs").iterdir()
    return [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]


def test_bad_content_under_skip_is_recorded_and_not_cached(srv, tmp_path, capsys):
    srv.configure(mode="content_int")
    code, err = run(tmp_path, capsys, srv, "--on-error", "skip")
    assert code == 0 and "Traceback" not in err, err
    rows = samples(tmp_path)
    assert all(r["error"] and srv.url in r["error"] and "content must be a string" in r["error"] for r in rows)
    srv.reset()  # the server is fixed: the re-run asks it again (nothing bad was cached)
    code, err = run(tmp_path, capsys, srv)
    assert code == 0, err
    assert srv.state()["total"] == 2 and all(r["error"] is None and r["answer"] for r in samples(tmp_path))


def test_bad_content_without_skip_is_one_line(srv, tmp_path, capsys):
    srv.configure(mode="content_int")
    code, err = run(tmp_path, capsys, srv)
    assert code == 2 and "Traceback" not in err and srv.url in err


def test_key_echoed_under_skip_reaches_no_file(srv, tmp_path, capsys):
    srv.configure(mode="echo_key")
    code, err = run(tmp_path, capsys, srv, "--on-error", "skip")
    assert code == 0 and no_key_piece(err)
    assert all("contains the API key" in r["error"] for r in samples(tmp_path))
    srv.configure(mode="key_long_error")
    code, err = run(tmp_path / "again", capsys, srv, "--on-error", "skip")
    assert code == 0 and no_key_piece(err)
    assert all("HTTP 401" in r["error"] and no_key_piece(r["error"]) for r in samples(tmp_path / "again"))


def test_api_key_argument_on_the_command_line_is_refused_and_written_nowhere(srv, tmp_path, capsys):
    WRITTEN.append(tmp_path)
    code, err = cli_in_process(tmp_path, capsys, *NO_MODELS, "--generator", "openai", "--generator-args",
                               f"base_url={srv.url},model=M,api_key={KEY}", "--limit", "2")
    assert code == 2 and "api_key_env" in err and no_key_piece(err)
    assert srv.state()["total"] == 0


def test_zz_the_key_is_in_no_file_these_runs_wrote(harness_cache):
    if not WRITTEN:
        pytest.skip("runs with this module's command-line tests (they fill WRITTEN)")
    written = files_under(*WRITTEN, harness_cache)
    assert len(written) > 5
    assert [str(p) for p in written if not no_key_piece(p.read_bytes().decode("utf-8", "replace"))] == []
