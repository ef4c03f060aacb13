"""The runner's mechanics on the demo task with cheap lexical components (tests/pipeline_plugin.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.core.errors import HarnessError
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.results.run_files import load_sample_logs
from reag_harness.results.run_results import RESULTS_FIELDS, SAMPLE_LOG_FIELDS

from . import pipeline_plugin
from .pipeline_plugin import CALLS

LEXICAL = dict(task="demo", retriever="test-title", critic="test-overlap", generator="test-first-number",
               prompt_style="test-context", quiet=True, no_leaderboard=True)


@pytest.fixture
def lexical(tmp_path: Path):
    register_plugin(pipeline_plugin, "test-pipeline")
    CALLS.clear()
    yield dict(LEXICAL, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    unregister_plugin("test-pipeline")


def read_samples(folder: Path) -> list[dict]:
    return load_sample_logs(folder)


def run_folder(results) -> Path:
    return Path(results.config["output_dir"]) / results.run_id.rsplit("__", 1)[0]


def test_results_and_samples_have_every_field(lexical):
    res = evaluate(**lexical, limit=8)
    folder = run_folder(res)
    data = json.loads((folder / "results.json").read_text())
    assert set(RESULTS_FIELDS) <= set(data)
    assert data["n"] == 8 and data["task"] == "demo" and data["headline_metric"] == "accuracy"
    assert set(data["components"]) == {"task", "retriever", "critic", "generator", "prompt_style"}
    assert data["components"]["critic"]["args"] == {"threshold": 0.2}
    assert {t["stage"] for t in data["timings"]} == {"retrieve", "judge", "generate", "score"}
    assert data["versions"]["harness"] and data["versions"]["python"]
    rows = read_samples(folder)
    assert [r["id"] for r in rows] == [f"demo-{i:03d}" for i in range(8)]
    for row in rows:
        assert set(SAMPLE_LOG_FIELDS) <= set(row)
        assert row["passages"] and all({"p_yes", "kept", "text"} <= set(p) for p in row["passages"])
        kept = [p for p in row["passages"] if p["kept"]]
        assert all(p["p_yes"] > 0.2 for p in kept)
        assert row["raw_output"].startswith("<answer>")
    accuracy = 100 * sum(r["score"]["correct"] for r in rows) / len(rows)
    assert data["metrics"]["accuracy"] == round(accuracy, 2)
    assert data["retrieval_quality"]["recall@1"] is not None


def test_second_run_is_served_from_the_cache(lexical):
    first = evaluate(**lexical, limit=6)
    calls = dict(CALLS)
    second = evaluate(**lexical, limit=6)
    assert dict(CALLS) == calls  # nothing recomputed
    assert {t.stage: t.n_cached for t in second.timings if t.stage != "score"} == {
        "retrieve": 6, "judge": 6, "generate": 6}
    assert first.metrics == second.metrics


def test_changing_the_threshold_recomputes_no_critic_call(lexical):
    evaluate(**lexical, limit=6)
    judged = CALLS["judge"]
    res = evaluate(**lexical, limit=6, critic_args={"threshold": 0.9})
    assert CALLS["judge"] == judged
    assert all(not p["kept"] for r in read_samples(run_folder(res)) for p in r["passages"]
               if p["p_yes"] <= 0.9)


def test_another_generator_reuses_retrieval_and_critic(lexical):
    evaluate(**lexical, limit=5)
    before = dict(CALLS)
    evaluate(**lexical, limit=5, generator_args={"variant": 2})
    assert CALLS["retrieve"] == before["retrieve"] and CALLS["judge"] == before["judge"]
    assert CALLS["generate"] == before["generate"] + 5


def test_no_cache_recomputes(lexical):
    evaluate(**lexical, limit=4)
    evaluate(**{**lexical, "cache": False}, limit=4)
    assert CALLS["retrieve"] == 8


def test_on_error_skip_records_the_failing_sample(lexical):
    args = dict(lexical, retriever_args={"fail_on": "demo-002"}, limit=5)
    with pytest.raises(ValueError, match="demo-002"):
        evaluate(**args)
    res = evaluate(**args, on_error="skip")
    rows = {r["id"]: r for r in read_samples(run_folder(res))}
    assert rows["demo-002"]["error"].startswith("retrieve: ValueError")
    assert rows["demo-002"]["score"]["correct"] == 0 and rows["demo-002"]["answer"] is None
    assert all(rows[i]["error"] is None for i in rows if i != "demo-002")
    assert (res.errors["count"], res.errors["by_stage"]) == (1, {"retrieve": 1})


def test_unknown_component_and_bad_args_are_harness_errors(lexical):
    with pytest.raises(HarnessError, match="did you mean 'test-first-number'"):
        evaluate(**{**lexical, "generator": "test-first-numbr"})
    with pytest.raises(HarnessError, match="unknown option"):
        evaluate(**lexical, bogus=1)


def test_shards_merge_into_the_unsharded_run(lexical, tmp_path):
    from reag_harness.results.shard_merge import merge_runs

    whole = evaluate(**lexical, limit=10)
    shards = [evaluate(**lexical, limit=10, shard=f"{i}/3") for i in range(3)]
    assert sorted(s.n for s in shards) == [3, 3, 4]
    merged = merge_runs([run_folder(s) for s in shards], tmp_path / "merged")
    assert merged.metrics == whole.metrics and merged.n == 10
    strip = lambda rows: [{k: v for k, v in r.items()} for r in rows]  # noqa: E731
    assert strip(read_samples(tmp_path / "merged")) == strip(read_samples(run_folder(whole)))


KILLABLE = """
import sys, time
from tests import pipeline_plugin
from reag_harness.core.plugin_manager import register_plugin
orig = pipeline_plugin.FirstNumberGenerator.generate
def slow(self, requests):
    time.sleep(float(self.args.get("delay", 0)))
    return orig(self, requests)
pipeline_plugin.FirstNumberGenerator.generate = slow
register_plugin(pipeline_plugin, "test-pipeline")
from reag_harness.cli.app import main
sys.exit(main(sys.argv[1:]))
"""


def cli_args(tmp_path: Path, delay: float) -> list[str]:
    return ["--task", "demo", "--retriever", "test-title", "--critic", "test-overlap", "--generator",
            "test-first-number", "--prompt-style", "test-context", "--generator-args", f"delay={delay}",
            "--chunk-size", "4", "--output-dir", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "stages"),
            "--no-leaderboard", "--quiet"]


def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_run(tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, str(script), *cli_args(tmp_path, 0.6)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    gen_dir = tmp_path / "stages" / "generate"
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until some, not all, generations are stored
        done = sum(1 for p in gen_dir.glob("*/part-*.jsonl") for _ in open(p))
        if done >= 4:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sum(1 for p in gen_dir.glob("*/part-*.jsonl") for _ in open(p))
    assert 4 <= done < 24, "the kill must land mid-run"
    # resume (delay does not change what is computed: same generator identity needs same args)
    resumed = subprocess.run([sys.executable, str(script), *cli_args(tmp_path, 0.6)], env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    folder = next((tmp_path / "runs").glob("demo__*"))
    rows = read_samples(folder)
    assert len(rows) == 24 and len({r["id"] for r in rows}) == 24
    timings = {t["stage"]: t for t in json.loads((folder / "results.json").read_text())["timings"]}
    assert timings["generate"]["n_cached"] == done and timings["generate"]["n_computed"] == 24 - done
    # identical to an uninterrupted run in a fresh cache
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    clean = subprocess.run([sys.executable, str(script), *cli_args(fresh, 0.6)], env=env, capture_output=True,
                           text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert read_samples(next((fresh / "runs").glob("demo__*"))) == rows


DISTRIBUTED = """
import json, sys
from tests import pipeline_plugin
from reag_harness.core.plugin_manager import register_plugin
register_plugin(pipeline_plugin, "test-pipeline")
from reag_harness.api import evaluate
res = evaluate(task="demo", retriever="test-title", critic="test-overlap", generator="test-first-number",
               prompt_style="test-context", quiet=True, no_leaderboard=True, limit=10,
               output_dir=sys.argv[1], cache_dir=sys.argv[2])
print(json.dumps({"n": res.n, "metrics": res.metrics, "shard": res.shard}))
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run_equals_one_process_run(tmp_path):
    script = tmp_path / "dist.py"
    script.write_text(DISTRIBUTED)
    base = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(free_port()), WORLD_SIZE="2")
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "runs"), str(tmp_path / "st")],
                              env=dict(base, RANK=str(r), LOCAL_RANK=str(r)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    rank0, rank1 = (json.loads(o[0].strip().splitlines()[-1]) for o in outs)
    assert (rank0["n"], rank0["shard"]) == (10, None) and (rank1["n"], rank1["shard"]) == (5, "1/2")
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "single"), str(tmp_path / "st2")],
                            env={k: v for k, v in base.items() if k not in ("WORLD_SIZE",)}, capture_output=True,
                            text=True, timeout=180)
    assert single.returncode == 0, single.stderr
    assert json.loads(single.stdout.strip().splitlines()[-1])["metrics"] == rank0["metrics"]
    merged = next(p for p in (tmp_path / "runs").iterdir() if "__shard" not in p.name)
    one = next((tmp_path / "single").iterdir())
    assert read_samples(merged) == read_samples(one)
