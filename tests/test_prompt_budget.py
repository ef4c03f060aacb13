"""Prompt-length policy: over-long generator prompts are truncated (last passages dropped) or
recorded as errors, never sent as is; results.json reports prompt lengths per stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reag_harness.prompts.budget import PromptTooLong, fit_request, length_summary
from reag_harness.records import ChatRequest, Passage


def _build(passages):
    text = "Q" + "".join(p.text for p in passages or [])
    return ChatRequest(messages=[{"role": "user", "content": text}])


def _measure(request: ChatRequest) -> int:
    return len(request.messages[0]["content"])


PASSAGES = [Passage("p", i, "x" * n) for i, n in enumerate([10, 20, 30, 40])]


def test_fit_keeps_the_longest_head_of_passages_that_fits() -> None:
    assert fit_request(_build, PASSAGES, _measure, 1000).dropped == 0
    fitted = fit_request(_build, PASSAGES, _measure, 61)  # Q + 10 + 20 + 30 = 61
    assert (fitted.tokens, fitted.dropped) == (61, 1)
    fitted = fit_request(_build, PASSAGES, _measure, 60)
    assert (fitted.tokens, fitted.dropped) == (31, 2)
    assert fit_request(_build, PASSAGES, _measure, 1).dropped == 4  # the question alone
    with pytest.raises(PromptTooLong, match="even without passages"):
        fit_request(lambda ps: ChatRequest(messages=[{"role": "user", "content": "QQ"}]), PASSAGES, _measure, 1)
    with pytest.raises(PromptTooLong, match="prompt_policy=error"):
        fit_request(_build, PASSAGES, _measure, 60, "error")
    assert fit_request(_build, None, _measure, 1000).dropped == 0


def test_length_summary() -> None:
    assert length_summary([]) == {"n": 0}
    s = length_summary(list(range(1, 101)))
    assert (s["n"], s["max"], s["p95"]) == (100, 100, 95)


def test_demo_run_truncates_or_records_and_reports_lengths(tiny_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from reag_harness.api import evaluate
    from reag_harness.results.run_files import load_sample_logs

    common = dict(task="demo", limit=4, quiet=True, no_leaderboard=True, output_dir=str(tmp_path / "runs"),
                  cache=False, batch_size=4)
    free = evaluate(**common, generator_args={"max_new_tokens": 2, "max_prompt_tokens": "none"})
    lengths = free.prompts["generate"]
    assert lengths["n"] == 4 and lengths["truncated_samples"] == 0 and free.prompts["judge"]["n"] > 4
    assert free.prompts["judge"]["max"] >= free.prompts["judge"]["p95"] > 0
    bound = lengths["max"] - 1  # the longest prompt no longer fits
    cut = evaluate(**common, generator_args={"max_new_tokens": 2, "max_prompt_tokens": bound})
    report = cut.prompts["generate"]
    assert report["max"] <= bound and report["truncated_samples"] >= 1 and report["passages_dropped"] >= 1
    assert report["policy"] == "truncate" and report["max_prompt_tokens"] == bound and cut.errors["count"] == 0
    folder = next(p for p in (tmp_path / "runs").iterdir() if cut.run_id.startswith(p.name))
    rows = load_sample_logs(folder)
    assert sum(r["passages_dropped"] for r in rows) == report["passages_dropped"]
    err = evaluate(**common, generator_args={"max_new_tokens": 2, "max_prompt_tokens": bound,
                                             "prompt_policy": "error"})
    assert err.prompts["generate"]["too_long_errors"] == err.errors["count"] >= 1
    saved = json.loads((next(p for p in (tmp_path / "runs").iterdir()
                             if err.run_id.startswith(p.name)) / "results.json").read_text())
    assert saved["prompts"]["generate"]["too_long_errors"] == err.errors["count"]
