"""The demo through the real CLI with the tiny checkpoints: default, zero-shot and full ReAG preset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "reag_harness.cli", *args, "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, next(out.iterdir())


def samples(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]


def test_demo_default_pipeline_prints_a_results_table(tmp_path):
    proc, folder = cli(tmp_path, "--task", "demo", "--limit", "3", "--leaderboard", str(tmp_path / "lb.json"))
    assert "accuracy" in proc.stdout and "<- headline" in proc.stdout
    assert "meaningless" in proc.stdout
    results = json.loads((folder / "results.json").read_text())
    assert results["smoke"] is True and results["n"] == 3
    assert {c: results["components"][c]["name"] for c in ("retriever", "critic", "generator", "prompt_style")} == {
        "retriever": "tiny-eva-clip", "critic": "tiny-critic", "generator": "tiny-qwen2.5-vl",
        "prompt_style": "reag-reasoning"}
    rows = samples(folder)
    assert all(len(r["passages"]) > 0 and all(0 <= p["p_yes"] <= 1 for p in r["passages"]) for r in rows)
    assert all(isinstance(r["raw_output"], str) for r in rows)
    # a smoke run is appended only to a leaderboard named explicitly, and marked as smoke
    board = json.loads((tmp_path / "lb.json").read_text())
    assert any(e["run_id"] == results["run_id"] and e.get("smoke") for e in board["entries"])


def test_zero_shot_baseline_has_no_context(tmp_path):
    _, folder = cli(tmp_path, "--task", "demo", "--retriever", "none", "--critic", "none", "--prompt-style",
                    "direct", "--limit", "5", "--no-leaderboard")
    rows = samples(folder)
    assert len(rows) == 5 and all(r["passages"] == [] and r["retrieved_pages"] == [] for r in rows)


@pytest.mark.slow
def test_full_reag_preset_with_tiny_checkpoints_runs_the_crop(tmp_path):
    from reag_harness.models.tiny.qwen import tiny_qwen25vl_path

    tiny = str(tiny_qwen25vl_path())
    _, folder = cli(tmp_path, "--task", "demo", "--generator", "reag-3b", "--generator-args", f"pretrained={tiny}",
                    "--critic-args", f"pretrained={tiny}", "--limit", "2", "--no-leaderboard")
    results = json.loads((folder / "results.json").read_text())
    resolved = results["config"]["resolved"]
    assert resolved["retriever"]["args"]["crop"] is True and resolved["retriever"]["args"]["top_k"] == 20
    assert resolved["critic"]["args"]["threshold"] == 0.1 and resolved["critic"]["source"] == "preset reag-3b"
    assert any(d.startswith("crop:") for d in results["deviations"])
    for row in samples(folder):
        assert row["retrieval_info"]["crop"]["reason"]
        kept = [p for p in row["passages"] if p["kept"]]
        assert all(p["p_yes"] > 0.1 for p in kept)
