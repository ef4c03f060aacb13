"""The generation cache keeps one record per (sample, prompt): identical re-runs and sweeps back recompute 0."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.pipeline.store import StageStore

from . import pipeline_plugin
from .pipeline_plugin import CALLS
from .test_runner import LEXICAL


@pytest.fixture
def lexical(tmp_path: Path):
    register_plugin(pipeline_plugin, "test-pipeline")
    CALLS.clear()
    yield dict(LEXICAL, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"), limit=12)
    unregister_plugin("test-pipeline")


def generated(lexical, threshold: float) -> int:
    before = CALLS["generate"]
    evaluate(**lexical, critic_args={"threshold": threshold})
    return CALLS["generate"] - before


def test_identical_rerun_and_threshold_sweep_back_recompute_nothing(lexical, tmp_path):
    assert generated(lexical, 0.2) == 12
    changed = generated(lexical, 0.9)
    assert changed > 0  # some prompts differ at 0.9
    # the 0.9 run's part file sorts last by name: a reader that lets the last file win would serve 0.9
    gen_dir = next((tmp_path / "stages" / "generate").iterdir())
    newest = max(gen_dir.glob("part-*.jsonl"), key=lambda p: p.stat().st_mtime_ns)
    newest.rename(gen_dir / "part-zzzz.jsonl")
    assert generated(lexical, 0.2) == 0  # the sweep back
    assert generated(lexical, 0.2) == 0  # the identical command again
    assert generated(lexical, 0.9) == 0


def test_the_newest_record_of_a_key_wins_whatever_the_file_names(tmp_path):
    folder = tmp_path / "generate" / "fp"
    folder.mkdir(parents=True)
    old, new = folder / "part-zzz.jsonl", folder / "part-aaa.jsonl"
    old.write_text(json.dumps({"key": "k", "check": "c", "record": {"raw": "old"}}) + "\n")
    new.write_text(json.dumps({"key": "k", "check": "c", "record": {"raw": "new"}}) + "\n")
    os.utime(old, ns=(1_000_000_000, 1_000_000_000))
    os.utime(new, ns=(2_000_000_000, 2_000_000_000))
    assert StageStore(tmp_path, "generate", "fp").get("k", "c") == {"raw": "new"}
