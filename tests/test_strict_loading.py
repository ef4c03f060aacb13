"""Strict loading at load time, per loader kind: a tiny checkpoint with one weight removed, or one renamed, is
an error naming the key (never a model with a randomly initialised weight and a warning).

Each test copies a tiny checkpoint, edits its weight file and loads the copy through the harness's own
loader: generators and critics (``hf_loading.load_model``), the HF CLIP encoder, open_clip, GroundingDINO, the
cross-encoder critic, the dense-text encoder. EVA-CLIP-8B (native and remote code): tests/test_eva_clip_8b.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Runtime
from reag_harness.models.strict_load import WeightsMismatchError, check_keys, check_loading_info

Edit = Callable[[dict[str, torch.Tensor]], str]


def remove_one(state: dict[str, torch.Tensor], key: str) -> str:
    state.pop(key)
    return key


def rename_one(state: dict[str, torch.Tensor], key: str) -> str:
    state[key + "_renamed"] = state.pop(key)
    return key


def edited_copy(src: Path, dst: Path, edit: Callable[[dict[str, torch.Tensor]], str]) -> tuple[Path, str]:
    """A copy of a checkpoint folder (or single weight file) with ``edit`` applied to its safetensors weights."""
    if src.is_file():
        dst.mkdir(parents=True)
        target = dst / src.name
        shutil.copyfile(src, target)
        files = [target]
    else:
        shutil.copytree(src, dst)
        files = sorted(dst.rglob("*.safetensors"))
    assert len(files) == 1, files
    state = load_file(str(files[0]))
    key = edit(state)
    save_file({k: v.contiguous() for k, v in state.items()}, str(files[0]), metadata={"format": "pt"})
    return (files[0] if src.is_file() else dst), key


def pick(src: Path, contains: str) -> str:
    files = [src] if src.is_file() else sorted(src.rglob("*.safetensors"))
    keys = sorted(load_file(str(files[0])))
    return next(k for k in keys if contains in k and k.endswith("weight"))


def both_edits(src: Path, tmp_path: Path, contains: str) -> list[tuple[Path, str, str]]:
    key = pick(src, contains)
    removed, _ = edited_copy(src, tmp_path / "removed", lambda s: remove_one(s, key))
    renamed, _ = edited_copy(src, tmp_path / "renamed", lambda s: rename_one(s, key))
    return [(removed, key, "missing"), (renamed, key, "renamed")]


def assert_names(exc: BaseException, key: str, kind: str) -> None:
    text = str(exc)
    assert key.split(".")[-2] in text, text  # the key is named (loaders may strip a model prefix)
    if kind == "renamed":
        assert "_renamed" in text, text


def test_loading_info_and_key_maps_name_every_kind() -> None:
    with pytest.raises(WeightsMismatchError) as err:
        check_loading_info({"missing_keys": {"a.w"}, "unexpected_keys": {"b.w"},
                            "mismatched_keys": {("c.w", (2, 3), (3, 3))}}, "/ckpt")
    assert err.value.missing == ["a.w"] and err.value.unexpected == ["b.w"] and "c.w" in str(err.value)
    check_loading_info({"missing_keys": set(), "unexpected_keys": set(), "mismatched_keys": set()}, "/ckpt")
    check_keys({"a": (1,)}, {"a": (1,), "x.position_ids": (1, 7)}, "/ckpt", ignore_unexpected=[r".*position_ids"])
    with pytest.raises(WeightsMismatchError, match=r"a \(checkpoint \(2,\), model \(1,\)\)"):
        check_keys({"a": (1,)}, {"a": (2,)}, "/ckpt")


@pytest.mark.parametrize("family,kind", [("llama", "causal-lm"), ("qwen2.5-vl", "vlm")])
def test_generator_and_critic_checkpoints(family, kind, tmp_path) -> None:
    from reag_harness.models import hf_loading, hf_vlm

    src = Path(hf_vlm.resolve_pretrained(f"tiny:{family}"))
    for folder, key, how in both_edits(src, tmp_path, "mlp"):
        with pytest.raises(WeightsMismatchError) as err:
            hf_loading.load_model(str(folder), kind=kind)
        assert_names(err.value, key, how)


def test_hf_clip_encoder(tmp_path) -> None:
    from reag_harness.models import clip_loader
    from reag_harness.models.tiny.hf_clip import tiny_hf_clip_path

    for folder, key, how in both_edits(tiny_hf_clip_path("clip"), tmp_path, "fc1"):
        clip_loader._ENCODERS.clear()
        with pytest.raises(WeightsMismatchError) as err:
            clip_loader.load_encoder("hf", "clip", str(folder))
        assert_names(err.value, key, how)


def test_open_clip_encoder(tmp_path) -> None:
    from reag_harness.models import clip_loader
    from reag_harness.models.tiny.clip import TINY_MODEL, tiny_clip_checkpoint

    for path, key, how in both_edits(Path(tiny_clip_checkpoint()), tmp_path, "mlp"):
        clip_loader._ENCODERS.clear()
        with pytest.raises(HarnessError) as err:
            clip_loader.load_encoder("open_clip", TINY_MODEL, str(path))
        assert_names(err.value, key, how)


def test_grounding_dino(tmp_path) -> None:
    from reag_harness.models import crop
    from reag_harness.models.tiny.grounding_dino import tiny_grounding_dino_path

    for folder, key, how in both_edits(tiny_grounding_dino_path(), tmp_path, "bbox_embed"):
        with pytest.raises(WeightsMismatchError) as err:
            crop._load_grounding_dino(str(folder), "cpu", "float32")
        assert_names(err.value, key, how)


def test_cross_encoder_critic(tmp_path) -> None:
    from reag_harness.models.tiny.cross_encoder import tiny_cross_encoder_path
    from reag_harness.plugins.critics.cross_encoder import CrossEncoderCritic

    for folder, key, how in both_edits(tiny_cross_encoder_path(), tmp_path, "intermediate"):
        with pytest.raises(WeightsMismatchError) as err:
            CrossEncoderCritic(Runtime(), model=str(folder)).model()
        assert_names(err.value, key, how)


def test_dense_text_encoder(tmp_path) -> None:
    from reag_harness.plugins.retrievers.dense_text import DenseTextRetriever, packaged_minilm

    for folder, key, how in both_edits(Path(packaged_minilm()), tmp_path, "intermediate"):
        with pytest.raises(WeightsMismatchError) as err:
            DenseTextRetriever(Runtime(), model=str(folder)).model()
        assert_names(err.value, key, how)
