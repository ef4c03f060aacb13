"""Pre-flight of model checkpoints: a weight removed or renamed is named before any stage runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from reag_harness.api import evaluate
from reag_harness.core.preflight import PreflightError
from reag_harness.models.checkpoint_check import checkpoint_problems, weight_problems

REMOVED = "model.layers.0.mlp.down_proj.weight"  # the transformers-4 layout, as ReAG-3B/7B are saved


def damaged_copy(tiny_path: Path, dest: Path, drop: str | None = None, rename: tuple[str, str] | None = None) -> Path:
    shutil.copytree(tiny_path, dest)
    weights = load_file(str(dest / "model.safetensors"))
    assert REMOVED in weights
    if drop:
        del weights[drop]
    if rename:
        weights[rename[1]] = weights.pop(rename[0])
    save_file(weights, str(dest / "model.safetensors"), metadata={"format": "pt"})
    return dest


def test_an_intact_checkpoint_passes(tiny_path: Path) -> None:
    assert weight_problems(tiny_path, "vlm") == []
    assert checkpoint_problems(str(tiny_path), "vlm") == []


def test_a_removed_weight_is_named(tiny_path: Path, tmp_path: Path) -> None:
    folder = damaged_copy(tiny_path, tmp_path / "ckpt", drop=REMOVED)
    problems = checkpoint_problems(str(folder), "vlm")
    assert len(problems) == 1 and "are not in" in problems[0]
    assert f"(in the checkpoint: {REMOVED})" in problems[0]  # named as the checkpoint names it


def test_a_renamed_weight_is_named_both_ways(tiny_path: Path, tmp_path: Path) -> None:
    folder = damaged_copy(tiny_path, tmp_path / "ckpt", rename=(REMOVED, REMOVED.replace("down_proj", "down_prj")))
    problems = checkpoint_problems(str(folder), "vlm")
    assert any(REMOVED in p for p in problems)
    assert any(REMOVED.replace("down_proj", "down_prj") in p and "no place" in p for p in problems)


def test_a_missing_shard_is_named(tiny_path: Path, tmp_path: Path) -> None:
    folder = damaged_copy(tiny_path, tmp_path / "ckpt")
    (folder / "model.safetensors.index.json").write_text(
        '{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}')
    problems = checkpoint_problems(str(folder), "vlm")
    assert problems and "model-00001-of-00002.safetensors" in problems[0]


def test_remote_code_not_allowed_is_a_preflight_problem(tiny_path: Path, tmp_path: Path) -> None:
    folder = damaged_copy(tiny_path, tmp_path / "ckpt")
    import json

    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="my_remote_vlm", auto_map={"AutoConfig": "configuration_x.XConfig"})
    (folder / "config.json").write_text(json.dumps(config))
    problems = checkpoint_problems(str(folder), "vlm", trust_remote_code=False)
    assert len(problems) == 1 and "trust_remote_code=true" in problems[0]
    assert checkpoint_problems(str(folder), "vlm", trust_remote_code=True) == []  # left to the loader


def test_a_run_with_a_damaged_generator_stops_in_preflight(tiny_path: Path, tmp_path: Path) -> None:
    folder = damaged_copy(tiny_path, tmp_path / "ckpt", drop=REMOVED)
    with pytest.raises(PreflightError, match=REMOVED.replace(".", r"\.")) as err:
        evaluate(task="demo", retriever="none", critic="none", generator="hf-vlm",
                 generator_args={"pretrained": str(folder)}, prompt_style="direct", quiet=True, no_leaderboard=True,
                 output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    assert "before any stage ran" in str(err.value)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("results.json"))


def test_a_local_grounding_dino_is_checked_like_the_others(tmp_path: Path) -> None:
    from reag_harness.models.crop import detector_problem
    from reag_harness.models.tiny.grounding_dino import tiny_grounding_dino_path

    source = tiny_grounding_dino_path()
    assert detector_problem(str(source)) is None
    shutil.copytree(source, tmp_path / "gd")
    weights = load_file(str(tmp_path / "gd" / "model.safetensors"))
    dropped = sorted(weights)[0]
    del weights[dropped]
    save_file(weights, str(tmp_path / "gd" / "model.safetensors"), metadata={"format": "pt"})
    why = detector_problem(str(tmp_path / "gd"))
    assert why is not None and "crop detector" in why and dropped.split(".")[-2] in why


def test_the_cross_encoder_critic_checkpoint_is_checked(tmp_path: Path) -> None:
    from plugins.critics.cross_encoder import CrossEncoderCritic
    from reag_harness.interfaces import Runtime
    from reag_harness.models.tiny.cross_encoder import tiny_cross_encoder_path

    source = tiny_cross_encoder_path()
    assert CrossEncoderCritic(Runtime(), model=str(source)).preflight() == []
    shutil.copytree(source, tmp_path / "ce")
    weights = load_file(str(tmp_path / "ce" / "model.safetensors"))
    dropped = next(k for k in sorted(weights) if k.endswith("weight") and "classifier" not in k)
    del weights[dropped]
    save_file(weights, str(tmp_path / "ce" / "model.safetensors"), metadata={"format": "pt"})
    problems = CrossEncoderCritic(Runtime(), model=str(tmp_path / "ce")).preflight()
    assert len(problems) == 1 and dropped.split(".", 1)[-1] in problems[0], problems


def test_a_bin_checkpoint_is_read_memory_mapped(tmp_path: Path) -> None:
    import torch

    from reag_harness.models.tiny.vlms import tiny_checkpoint

    shutil.copytree(tiny_checkpoint("llama"), tmp_path / "c")
    weights = load_file(str(tmp_path / "c" / "model.safetensors"))
    (tmp_path / "c" / "model.safetensors").unlink()
    torch.save(weights, tmp_path / "c" / "pytorch_model.bin")  # the layout of older hub checkpoints
    assert weight_problems(tmp_path / "c", "causal-lm") == []
    del weights["model.norm.weight"]
    torch.save(weights, tmp_path / "c" / "pytorch_model.bin")
    problems = weight_problems(tmp_path / "c", "causal-lm")
    assert len(problems) == 1 and "model.norm.weight" in problems[0]
