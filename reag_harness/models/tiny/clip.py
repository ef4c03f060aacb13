"""A tiny random open_clip EVA-02 model built offline (tests, demo, benchmarks).

The vision tower is a timm ``Eva`` like ``eva02_tiny_patch14_224`` (rotary position
embeddings, SwiGLU MLP, token pooling) shrunk to 32 px images, patch 8, width 32, 2 blocks;
the text tower is open_clip's custom text transformer (width 32, 2 layers, the real CLIP BPE
tokenizer). The model is registered as an open_clip config (``reag-tiny-EVA02``), its seeded
random weights are saved to ``tiny_dir("open_clip_eva-v1")/open_clip_model.safetensors`` and
loaded back with ``open_clip.create_model_and_transforms(TINY_MODEL, pretrained=FILE)``:
exactly the code path of a real EVA02 checkpoint. Its embeddings are meaningless.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from filelock import FileLock

from reag_harness.core.paths import tiny_dir

TINY_NAME = "open_clip_eva-v1"  # bump when the architecture or the init changes
TINY_MODEL = "reag-tiny-EVA02"  # the open_clip model (config) name
TINY_TIMM = "reag_tiny_eva02_patch8_32"  # the timm vision trunk
WEIGHTS_FILE = "open_clip_model.safetensors"
SEED = 0

TIMM_ARGS: dict[str, Any] = dict(
    img_size=32,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    mlp_ratio=4 * 2 / 3,
    swiglu_mlp=True,
    use_rot_pos_emb=True,
    ref_feat_shape=(4, 4),  # 32 / 8
)

OPEN_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {
        "image_size": 32,
        "timm_model_name": TINY_TIMM,
        "timm_model_pretrained": False,
        "timm_pool": "token",
        "timm_proj": None,
    },
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    "custom_text": True,
}

_registered = False


def register() -> str:
    """Register the timm trunk and the open_clip config (idempotent); returns the model name."""
    global _registered
    if _registered:
        return TINY_MODEL
    import open_clip
    from timm.models import register_model
    from timm.models.eva import Eva

    def reag_tiny_eva02_patch8_32(pretrained: bool = False, **kwargs: Any) -> Eva:
        for unused in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
            kwargs.pop(unused, None)
        return Eva(**{**TIMM_ARGS, **kwargs})

    reag_tiny_eva02_patch8_32.__module__ = __name__
    register_model(reag_tiny_eva02_patch8_32)
    cfg_dir = tiny_dir(TINY_NAME)
    cfg_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = cfg_dir / f"{TINY_MODEL}.json"
    text = json.dumps(OPEN_CLIP_CONFIG, indent=1)
    if not cfg_path.exists() or cfg_path.read_text() != text:
        tmp = cfg_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, cfg_path)
    open_clip.add_model_config(cfg_path)
    _registered = True
    return TINY_MODEL


def tiny_clip_checkpoint(seed: int = SEED) -> Path:
    """The tiny checkpoint file, built on first use (file lock + atomic rename).

    Finding a built checkpoint imports nothing (``data check`` and ``ls`` stay fast); the
    open_clip registration happens when it is built here or loaded by ``load_encoder``.
    """
    folder = tiny_dir(TINY_NAME)
    target = folder / (WEIGHTS_FILE if seed == SEED else f"open_clip_model-seed{seed}.safetensors")
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".build.lock")):
        if target.exists():
            return target
        from reag_harness.core.atomic import remove_leftovers

        remove_leftovers(folder, "*.tmp")  # half-written files of killed builds
        register()
        import open_clip
        import torch
        from safetensors.torch import save_file

        torch.manual_seed(seed)
        model = open_clip.create_model(TINY_MODEL, pretrained=None)
        # Timm initialises the head near zero; larger weights make images' embeddings differ.
        with torch.no_grad():
            model.visual.trunk.head.weight.normal_(0.0, 0.5)
            model.text.text_projection.normal_(0.0, 0.5)
        state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        save_file(state, str(tmp), metadata={"format": "pt", "model": TINY_MODEL, "seed": str(seed)})
        os.replace(tmp, target)
    return target
