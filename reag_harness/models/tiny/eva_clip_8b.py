"""A tiny random checkpoint with EVA-CLIP-8B's architecture, in the hub layout, built offline.

Like ``BAAI/EVA-CLIP-8B``: ``config.json`` with ``auto_map`` to ``configuration_evaclip.py`` /
``modeling_evaclip.py`` (remote code, copied from :mod:`reag_harness.models.tiny.evaclip_remote_fixture`), a CLIP
tokenizer, and the weights as ``pytorch_model.bin`` without any ``position_ids`` (``fmt="bin"``, the hub's),
or ``model.safetensors``, or sharded with an index (``fmt="sharded-bin"`` / ``"sharded-safetensors"``).
The 8B's options at a tiny size: vision RMSNorm, no q/k/v bias, patch 14, 224 px, width 32, 2 layers; text
LayerNorm with q/k/v bias, width 32, 2 layers, 77 positions. Norm weights and biases are random too, so a
loader that re-initialises them is caught. Use it as ``pretrained=tiny:eva-clip-8b`` (``tiny:eva-clip-8b-<fmt>``)
or through :func:`tiny_eva_clip_8b_path`. Its embeddings are meaningless.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from filelock import FileLock

from reag_harness.core.errors import HarnessError
from reag_harness.core.paths import tiny_dir

TINY_VERSION = "v1"  # bump when the architecture, the init or the layout changes
TINY_NAME = "tiny:eva-clip-8b"
FORMATS = ("bin", "safetensors", "sharded-bin", "sharded-safetensors")
FIXTURE = Path(__file__).with_name("evaclip_remote_fixture")
REMOTE_FILES = ("configuration_evaclip.py", "modeling_evaclip.py")


def tiny_config(vocab_size: int) -> dict[str, Any]:
    """``config.json`` of the tiny checkpoint (the published keys; 8B options, tiny sizes)."""
    return {
        "architectures": ["EvaCLIPModel"],
        "auto_map": {"AutoConfig": "configuration_evaclip.EvaCLIPConfig",
                     "AutoModel": "modeling_evaclip.EvaCLIPModel"},
        "model_type": "evaclip",
        "projection_dim": 24,
        "torch_dtype": "float32",
        "text_config": {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 128, "projection_dim": 24,
                        "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77,
                        "hidden_act": "gelu", "layer_norm_eps": 1e-5, "q_bias": True, "k_bias": True,
                        "v_bias": True, "use_rms_norm": False, "post_layernorm": False,
                        "bos_token_id": vocab_size - 2, "eos_token_id": vocab_size - 1,
                        "pad_token_id": vocab_size - 1},
        "vision_config": {"hidden_size": 32, "intermediate_size": 160, "projection_dim": 24,
                          "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 224, "patch_size": 14,
                          "hidden_act": "gelu", "layer_norm_eps": 1e-6, "q_bias": False, "k_bias": False,
                          "v_bias": False, "use_rms_norm": True, "post_layernorm": False},
    }


def random_state_dict(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Seeded random weights in the hub's key layout (the native model's keys; no ``position_ids``)."""
    import torch

    from reag_harness.models.eva_clip_native import EvaClipModel

    torch.manual_seed(seed)
    model = EvaClipModel(config)
    state = {}
    for key, value in model.state_dict().items():
        noise = torch.randn(value.shape)
        is_norm_weight = "norm" in key.split(".")[-2] and key.endswith(".weight")
        state[key] = (1.0 + 0.1 * noise) if is_norm_weight else 0.05 * noise
    return state


def _save(state: dict[str, Any], folder: Path, fmt: str) -> None:
    import torch
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in state.items()}
    safetensors = fmt.endswith("safetensors")
    if not fmt.startswith("sharded"):
        if safetensors:
            save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        else:
            torch.save(state, str(folder / "pytorch_model.bin"))
        return
    keys = list(state)
    halves = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
    stem, ext = ("model", "safetensors") if safetensors else ("pytorch_model", "bin")
    weight_map = {}
    for i, part in enumerate(halves, 1):
        name = f"{stem}-{i:05d}-of-{len(halves):05d}.{ext}"
        shard = {k: state[k] for k in part}
        if safetensors:
            save_file(shard, str(folder / name), metadata={"format": "pt"})
        else:
            torch.save(shard, str(folder / name))
        weight_map.update(dict.fromkeys(part, name))
    size = sum(v.numel() * v.element_size() for v in state.values())
    (folder / f"{stem}.{ext}.index.json").write_text(json.dumps(
        {"metadata": {"total_size": size}, "weight_map": weight_map}, indent=1))


def tiny_eva_clip_8b_path(fmt: str = "bin", seed: int = 0) -> Path:
    """The tiny EVA-CLIP-8B-architecture checkpoint folder (built on first use)."""
    if fmt not in FORMATS:
        raise HarnessError(f"tiny EVA-CLIP-8B format {fmt!r}: use one of {', '.join(FORMATS)}")
    folder = tiny_dir(f"eva_clip_8b-{TINY_VERSION}") / f"{fmt}-seed{seed}"
    if (folder / "reag_tiny.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / ".build.lock")):
        if (folder / "reag_tiny.json").exists():
            return folder
        from reag_harness.models.tiny.hf_clip import _tokenizer

        tok = _tokenizer()
        config = tiny_config(len(tok))
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        tok.save_pretrained(str(tmp))
        (tmp / "config.json").write_text(json.dumps(config, indent=1))
        for name in REMOTE_FILES:
            shutil.copyfile(FIXTURE / name, tmp / name)
        _save(random_state_dict(config, seed), tmp, fmt)
        (tmp / "reag_tiny.json").write_text(json.dumps({"fmt": fmt, "seed": seed, "version": TINY_VERSION}))
        os.replace(tmp, folder)
    return folder


def resolve_tiny(pretrained: str | None) -> str | None:
    """``tiny:eva-clip-8b`` / ``tiny:eva-clip-8b-<fmt>`` -> the folder (built on first use); others pass."""
    if not pretrained or not str(pretrained).startswith(TINY_NAME):
        return pretrained
    fmt = str(pretrained)[len(TINY_NAME):].lstrip("-") or "bin"
    return str(tiny_eva_clip_8b_path(fmt))
