"""``--critic-args top_n=N``: the N best passages per query; sweeping top_n or threshold reuses the
stored critic scores (no critic call is made again). The generator is the ``openai`` one on the
test server (tests/chat_server.py), so only the critic runs a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CRITIC_PROMPT_MARK = "Here is the text passage to analyze"


@pytest.fixture
def srv(server, monkeypatch):
    server.reset()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-top-n-test")
    return server


def run(tmp_path: Path, capsys, name: str, *args: str) -> tuple[dict, list[dict]]:
    """``reag-eval ARGS`` in this process; the run's results.json and samples."""
    from reag_harness.cli.app import main

    out = tmp_path / name
    code = main(["--task", "demo", "--limit", "4", *args, "--output-dir", str(out),
                 "--cache-dir", str(tmp_path / "stages"), "--no-leaderboard", "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    [folder] = out.iterdir()
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return json.loads((folder / "results.json").read_text()), rows


def judge_timing(results: dict) -> dict:
    return next(t for t in results["timings"] if t["stage"] == "judge")


def best(row: dict, n: int, threshold: float | None = None) -> list[int]:
    """Indices of the n highest p_yes (above threshold), earlier passage first on ties."""
    ps = [p["p_yes"] for p in row["passages"]]
    ok = [i for i, p in enumerate(ps) if threshold is None or p > threshold]
    return sorted(sorted(ok, key=lambda i: (-ps[i], i))[:n])


def kept(row: dict) -> list[int]:
    return [i for i, p in enumerate(row["passages"]) if p["kept"]]


def test_top_n_keeps_the_best_passages_and_sweeps_recompute_nothing(srv, tmp_path, capsys):
    gen = ["--generator", "openai", "--generator-args", f"base_url={srv.url},model=M"]
    # threshold=none: the demo critic's own threshold (0.1) would keep fewer than 3 here
    results, rows = run(tmp_path, capsys, "a", *gen, "--critic-args", "top_n=3,threshold=none")
    assert results["components"]["critic"]["name"] == "tiny-critic"
    assert judge_timing(results)["n_computed"] == 4
    for row in rows:
        assert len(row["passages"]) > 3
        assert kept(row) == best(row, 3)
    # the kept passages, in retrieval order, are what reached the generator
    prompts = list(srv.state()["counts"])
    assert len(prompts) == 4 and all(prompt.count("<paragraph>") == 3 for prompt in prompts)
    # another top_n and a threshold: the stored scores are reused, no critic forward pass
    results2, rows2 = run(tmp_path, capsys, "b", *gen, "--critic-args", "top_n=2,threshold=0.2")
    timing = judge_timing(results2)
    assert timing["n_computed"] == 0 and timing["n_cached"] == 4
    for row, old in zip(rows2, rows):
        assert [p["p_yes"] for p in row["passages"]] == [p["p_yes"] for p in old["passages"]]
        assert kept(row) == best(row, 2, threshold=0.2)
    results3, _ = run(tmp_path, capsys, "c", *gen, "--critic-args", "threshold=0.7")
    assert judge_timing(results3)["n_computed"] == 0


def test_openai_critic_top_n_sweep_sends_no_critic_request_again(srv, tmp_path, capsys):
    args = ["--generator", "openai", "--generator-args", f"base_url={srv.url},model=M",
            "--critic", "openai-critic"]
    _, rows = run(tmp_path, capsys, "a", *args, "--critic-args", f"base_url={srv.url},model=M,top_n=3")
    counts = srv.state()["counts"]
    critic_calls = sum(v for k, v in counts.items() if CRITIC_PROMPT_MARK in k)
    assert critic_calls == sum(len(r["passages"]) for r in rows) and all(v == 1 for v in counts.values())
    assert all(kept(r) == best(r, 3) for r in rows)
    results, rows2 = run(tmp_path, capsys, "b", *args, "--critic-args",
                         f"base_url={srv.url},model=M,top_n=1,threshold=0.3,max_concurrency=2")
    counts2 = srv.state()["counts"]
    assert sum(v for k, v in counts2.items() if CRITIC_PROMPT_MARK in k) == critic_calls
    assert judge_timing(results)["n_computed"] == 0
    assert all(kept(r) == best(r, 1, threshold=0.3) for r in rows2)


def test_a_selection_rule_without_a_critic_is_an_error_not_ignored(tmp_path, capsys):
    from reag_harness.cli.app import main

    code = main(["--task", "demo", "--limit", "1", "--retriever", "none", "--critic", "none",
                 "--critic-args", "top_n=3", "--output-dir", str(tmp_path), "--no-leaderboard", "--quiet"])
    assert code == 2 and "critic 'none'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["reag-critic", "tiny-critic", "hf-vlm-critic", "openai-critic"])
def test_built_in_critics_take_top_n_outside_their_identity(name, tiny_path):
    from reag_harness.core.plugin_manager import get_registry
    from reag_harness.interfaces import Runtime
    from reag_harness.pipeline.components import selection_rule

    base = {"base_url": "http://127.0.0.1:1/v1", "model": "M"} if name == "openai-critic" else (
        {} if name == "tiny-critic" else {"pretrained": str(tiny_path)})
    registry = get_registry()
    with_rule = registry.create("critic", name, Runtime(), {**base, "top_n": 3, "threshold": 0.2})
    plain = registry.create("critic", name, Runtime(), dict(base))
    assert selection_rule(with_rule) == (0.2, 3)
    assert with_rule.identity() == plain.identity()  # the stage cache key ignores the rule
