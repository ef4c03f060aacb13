"""EVQA and InfoSeek through the real CLI on synthetic data: kb build, then a run with tiny checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.kbdata import synth


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reag_harness.cli", *args], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ))


def test_evqa_from_kb_build_to_results_with_a_missing_image_skipped(tmp_path):
    mk = synth()
    mk.write_kb(tmp_path / "kb.json", 60, "evqa")
    data = mk.write_evqa_queries(tmp_path / "q", 8, 60)
    built = cli("kb", "build", "--task", "evqa", "--input", str(tmp_path / "kb.json"), "--output",
                str(tmp_path / "store"), "--quiet")
    assert built.returncode == 0, built.stderr
    (data["images"] / "img00001.png").unlink()
    task_args = f"kb={tmp_path / 'store'},queries={data['queries']},images={data['images']},no_bem=true"
    common = ["--task", "evqa", "--task-args", task_args, "--retriever", "oracle-page", "--critic", "tiny-critic",
              "--critic-args", "threshold=0.3", "--generator", "tiny-qwen2.5-vl", "--prompt-style", "reag-reasoning",
              "--output-dir", str(tmp_path / "runs"), "--no-leaderboard", "--quiet"]
    stopped = cli(*common)
    assert stopped.returncode == 2
    assert "img00001" in stopped.stderr and "image" in stopped.stderr and "Traceback" not in stopped.stderr
    run = cli(*common, "--on-error", "skip")
    assert run.returncode == 0, run.stderr
    folder = next((tmp_path / "runs").iterdir())
    results = json.loads((folder / "results.json").read_text())
    assert results["n"] == 8 and results["errors"]["count"] == 1
    rows = {r["id"]: r for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}
    assert "image" in rows["q1"]["error"] and rows["q1"]["score"]["correct"] == 0
    assert {"all", "single_hop", "two_hop"} <= set(results["metrics"])
    # the oracle page is the gold page; the failed sample retrieved nothing and counts as a miss
    assert results["retrieval_quality"]["recall@1"] == 87.5
    for r in rows.values():
        if r["error"] is None:
            assert r["passages"] and {p["page_key"] for p in r["passages"]} <= set(r["meta"]["gold_pages"])
