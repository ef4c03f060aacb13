"""Per-batch persistence (BRIEF contract 3): a kill loses at most one model batch of critic or generator work."""

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
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.models.batching import sorted_batches

from . import pipeline_plugin
from .kbdata import synth
from .pipeline_plugin import CALLS

N = 60
KILLABLE = """
import sys
from tests import pipeline_plugin
from reag_harness.core.plugin_manager import register_plugin
register_plugin(pipeline_plugin, "test-pipeline")
from reag_harness.cli.app import main
sys.exit(main(sys.argv[1:]))
"""


def stored_pairs(stages: Path) -> int:
    return sum(1 for p in stages.glob("judge/*/part-*.jsonl") for line in open(p, "rb")
               if line.endswith(b"\n") and b"#passage" in line)


def test_sorted_batches_reports_each_batch_with_input_indices() -> None:
    told: list[tuple[list[int], list[int]]] = []
    items = [5, 1, 4, 2, 3]
    out = sorted_batches(lambda b: [x * 10 for x in b], items, items, 2,
                         on_batch=lambda idx, res: told.append((idx, res)))
    assert out == [50, 10, 40, 20, 30]
    assert [len(i) for i, _ in told] == [2, 2, 1]  # after each batch, longest first
    assert all(res == [items[i] * 10 for i in idx] for idx, res in told)
    assert sorted(i for idx, _ in told for i in idx) == list(range(5))


def test_sigkill_in_the_critic_stage_loses_at_most_one_batch(tmp_path: Path) -> None:
    mk = synth()
    kb = mk.write_kb(tmp_path / "kb.json", N, "evqa", seed=2)
    data = mk.write_evqa_queries(tmp_path / "q", N, N, seed=2)
    task_args = {"kb": str(kb), "queries": str(data["queries"]), "images": str(data["images"]), "no_bem": "true"}
    common = dict(task="evqa", retriever="oracle-page", critic="test-overlap", generator="test-first-number",
                  prompt_style="test-context", output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    argv = [x for k, v in common.items() for x in (f"--{k.replace('_', '-')}", v)]
    argv += ["--task-args", json.dumps(task_args), "--no-leaderboard", "--quiet"]
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), REAG_TEST_CRITIC_DELAY="0.1")
    proc = subprocess.Popen([sys.executable, str(script), *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and stored_pairs(tmp_path / "stages") < 3 * pipeline_plugin.BATCH:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before_kill = stored_pairs(tmp_path / "stages")
    assert before_kill >= 3 * pipeline_plugin.BATCH, "the critic's finished batches must be on disk mid-stage"
    assert not list(tmp_path.glob("stages/generate/*/part-*.jsonl")), "the kill must land in the critic stage"
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        CALLS.clear()
        resumed = evaluate(**common, task_args=task_args, quiet=True, no_leaderboard=True)
        rows = [json.loads(x) for x in (Path(common["output_dir"]).glob("evqa__*/samples.jsonl").__next__()
                                        .read_text().splitlines())]
        total = sum(len(r["passages"]) for r in rows)
        assert 0 < before_kill < total
        assert CALLS["judge"] == total - before_kill  # pairs scored before the kill are not scored again
        CALLS.clear()
        fresh = evaluate(**{**common, "cache_dir": str(tmp_path / "fresh"), "output_dir": str(tmp_path / "o2")},
                         task_args=task_args, quiet=True, no_leaderboard=True)
        assert CALLS["judge"] == total and fresh.metrics == resumed.metrics
    finally:
        unregister_plugin("test-pipeline")


@pytest.mark.parametrize("kind", ["critic", "generator"])
def test_the_qwen_components_report_each_batch(tiny_path: Path, tmp_path: Path, kind: str) -> None:
    pytest.importorskip("torch")
    from PIL import Image

    from reag_harness.interfaces import Runtime
    from reag_harness.records import ChatRequest, Passage, Sample

    image = tmp_path / "red.png"
    Image.new("RGB", (56, 56), (200, 10, 10)).save(image)
    runtime = Runtime(device="cpu", dtype="float32", batch_size=2)
    told: list[tuple[list[int], list]] = []
    on_batch = lambda idx, res: told.append((idx, res))  # noqa: E731
    if kind == "critic":
        from reag_harness.plugins.critics.qwen_critic import tiny_critic

        sample = Sample("q", "What tower is this?", str(image))
        items = [(sample, Passage("p", i, "word " * (i + 1))) for i in range(5)]
        out = tiny_critic(runtime).p_yes(items, on_batch=on_batch)
    else:
        from reag_harness.plugins.generators.qwen_vl import tiny_qwen25vl

        items = [ChatRequest([{"role": "user", "content": [{"type": "text", "text": "hi " * (i + 1)}]}],
                             max_new_tokens=2) for i in range(5)]
        out = tiny_qwen25vl(runtime).generate(items, on_batch=on_batch)
    assert [len(i) for i, _ in told] == [2, 2, 1]
    assert sorted(i for idx, _ in told for i in idx) == list(range(5))
    assert all(res == [out[i] for i in idx] for idx, res in told)
