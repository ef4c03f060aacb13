"""The retrieval gate is general: any prompt style (or generator) with ``retrieval_decision`` skips retrieval
per sample, the decision is recorded in samples.jsonl and cached; and a critic's ``fallback`` reaches the
prompt through the runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.hookspecs import hookimpl
from reag_harness.results.run_files import load_sample_logs

from . import pipeline_plugin
from .pipeline_plugin import CALLS, ContextPrompt, OverlapCritic


class GatedPrompt(ContextPrompt):
    """Retrieves for even-numbered samples only."""

    def retrieval_decision(self, samples):
        CALLS["gate"] += len(samples)
        return [{"retrieve": int(s.id[-1]) % 2 == 0, "by": "test"} for s in samples]


class FailingGatePrompt(GatedPrompt):
    def retrieval_decision(self, samples):
        if any(s.id.endswith("3") for s in samples):
            raise ValueError("gate broke on " + ",".join(s.id for s in samples))
        return super().retrieval_decision(samples)


class RandomFallbackCritic(OverlapCritic):
    fallback = "random"


class GatePlugin:
    @hookimpl
    def register_prompt_styles(self, register):
        register("test-gated", GatedPrompt)
        register("test-gate-fails", FailingGatePrompt)

    @hookimpl
    def register_critics(self, register):
        register("test-overlap-fallback", RandomFallbackCritic)


@pytest.fixture
def lexical(tmp_path: Path):
    register_plugin(pipeline_plugin, "test-pipeline")
    register_plugin(GatePlugin(), "test-gate")
    CALLS.clear()
    yield dict(task="demo", retriever="test-title", critic="test-overlap", generator="test-first-number",
               prompt_style="test-gated", quiet=True, no_leaderboard=True, output_dir=str(tmp_path / "runs"),
               cache_dir=str(tmp_path / "stages"))
    unregister_plugin("test-gate")
    unregister_plugin("test-pipeline")


def test_a_prompt_style_gates_retrieval_per_sample_and_the_run_records_it(lexical):
    res = evaluate(**lexical, limit=6)
    folder = Path(res.config["output_dir"]) / res.run_id.rsplit("__", 1)[0]
    rows = load_sample_logs(folder)
    assert CALLS["retrieve"] == 3 and CALLS["gate"] == 6
    for row in rows:
        decision = row["retrieval_decision"]
        assert decision == {"retrieve": int(row["id"][-1]) % 2 == 0, "by": "test"}
        if decision["retrieve"]:
            assert row["passages"]
        else:
            assert row["passages"] == [] and row["retrieval_info"] == {"skipped_by_gate": True}
    again = evaluate(**lexical, limit=6)
    assert CALLS["gate"] == 6 and CALLS["retrieve"] == 3  # decisions and retrievals come from the cache
    assert again.metrics == res.metrics


def test_the_random_fallback_keeps_one_seeded_passage_when_the_critic_keeps_none(lexical):
    args = dict(lexical, prompt_style="test-context", critic="test-overlap-fallback", critic_args={"threshold": 1e9})
    res = evaluate(**args, limit=4)
    rows = load_sample_logs(Path(res.config["output_dir"]) / res.run_id.rsplit("__", 1)[0])
    for row in rows:
        kept = [p for p in row["passages"] if p["kept"]]
        assert len(kept) == 1 and row["selection"] == {"fallback": "random", "fallback_seed": res.seed}
    again = evaluate(**args, limit=4)
    rows2 = load_sample_logs(Path(again.config["output_dir"]) / again.run_id.rsplit("__", 1)[0])
    assert [[p["kept"] for p in r["passages"]] for r in rows] == [[p["kept"] for p in r["passages"]] for r in rows2]


def test_a_failing_gate_is_one_recorded_sample_error_with_on_error_skip(lexical):
    res = evaluate(**dict(lexical, prompt_style="test-gate-fails"), limit=5, on_error="skip")
    rows = {r["id"]: r for r in load_sample_logs(Path(res.config["output_dir"]) / res.run_id.rsplit("__", 1)[0])}
    assert rows["demo-003"]["error"].startswith("retrieve: ValueError: gate broke on demo-003")
    assert all(rows[i]["error"] is None and rows[i]["retrieval_decision"] is not None
               for i in ("demo-000", "demo-001", "demo-002", "demo-004"))
