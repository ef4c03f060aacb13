"""crop=true offline: a detector that is neither a local folder nor cached is reported before any stage runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.core.preflight import PreflightError
from reag_harness.interfaces import Runtime

DETECTOR = "IDEA-Research/grounding-dino-base"


def test_an_uncached_detector_fails_the_preflight_before_any_stage(tmp_path: Path) -> None:
    common = dict(task="demo", retriever="tiny-eva-clip", critic="none", generator="tiny-qwen2.5-vl",
                  prompt_style="direct", quiet=True, no_leaderboard=True, limit=2,
                  output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    with pytest.raises(PreflightError) as err:
        evaluate(**common, retriever_args={"crop": True, "crop_args": {"detector": DETECTOR}})
    message = str(err.value)
    assert f"retriever tiny-eva-clip: crop detector '{DETECTOR}' is neither a local folder" in message
    assert "tiny-grounding-dino" in message and "huggingface-cli download" in message
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").rglob("part-*.jsonl"))


def test_the_tiny_detector_and_a_local_folder_pass(tmp_path: Path) -> None:
    from reag_harness.plugins.retrievers.eva_clip import tiny_eva_clip

    ok = tiny_eva_clip(Runtime(), crop=True, crop_args={"detector": "tiny-grounding-dino"})
    assert [p for p in ok.preflight() if "detector" in p] == []
    from reag_harness.models.tiny.grounding_dino import tiny_grounding_dino_path

    # a local checkpoint folder (its weights are checked against its config since issue 20: an empty one fails)
    local = tiny_eva_clip(Runtime(), crop=True, crop_args={"detector": str(tiny_grounding_dino_path())})
    assert [p for p in local.preflight() if "detector" in p] == []
    empty = tiny_eva_clip(Runtime(), crop=True, crop_args={"detector": str(tmp_path)})
    assert any("no config.json" in p for p in empty.preflight())
    assert tiny_eva_clip(Runtime()).preflight() == []
