"""Random-weight Qwen2.5-VL checkpoints of chosen widths, written offline (tests, benchmarks).

They reuse the tiny checkpoint's tokenizer, processor and chat template (token ids stay
below its vocabulary), so they load through the same ``from_pretrained`` path as the hub
checkpoints. ``3b`` is Qwen2.5-VL-3B-Instruct's published architecture (a GPU check of real
cost); ``bench`` has scaled-down widths for 2 CPU cores but is meant to run at real sequence
shapes (448x448 images, ~300-token passages); ``mid`` is small enough for tests that need
real image sizes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

# (text config overrides, vision config overrides, mrope_section)
SIZES: dict[str, tuple[dict[str, Any], dict[str, Any], list[int]]] = {
    "3b": ({"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36, "num_attention_heads": 16,
            "num_key_value_heads": 2, "vocab_size": 151936},
           {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "out_hidden_size": 2048,
            "fullatt_block_indexes": [7, 15, 23, 31]}, [16, 24, 24]),
    "bench": ({"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8,
               "num_key_value_heads": 2},
              {"depth": 4, "hidden_size": 128, "intermediate_size": 512, "num_heads": 4, "out_hidden_size": 256,
               "fullatt_block_indexes": [1, 3]}, [4, 6, 6]),
    "mid": ({"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2},
            {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "out_hidden_size": 128,
             "fullatt_block_indexes": [1]}, [4, 6, 6]),
}


def write_sized_qwen25vl(size: str, out: str | Path, device: str = "cpu", dtype: str = "float32",
                         seed: int = 0, initializer_range: float = 0.02) -> Path:
    """Write a random Qwen2.5-VL of ``size`` (a key of :data:`SIZES`) into ``out``; returns ``out``.

    A larger ``initializer_range`` (tests use 0.3) spreads the random model's P("Yes") over
    many orders of magnitude, so that comparisons of scores mean something."""
    import torch
    from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration

    from reag_harness.models.tiny.qwen import tiny_qwen25vl_path

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}: use one of {', '.join(SIZES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tiny = tiny_qwen25vl_path()
    config = AutoConfig.from_pretrained(tiny)
    text, vision, mrope = SIZES[size]
    for key, value in text.items():
        setattr(config.text_config, key, value)
    for key, value in vision.items():
        setattr(config.vision_config, key, value)
    config.text_config.rope_parameters["mrope_section"] = list(mrope)
    if getattr(config.text_config, "layer_types", None) is not None:  # one entry per layer (no sliding window)
        config.text_config.layer_types = ["full_attention"] * config.text_config.num_hidden_layers
    config.text_config.initializer_range = config.vision_config.initializer_range = float(initializer_range)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=getattr(torch, dtype))
    model.save_pretrained(out)
    for f in tiny.iterdir():
        if f.is_file() and not f.name.startswith(("model", "config.json")) and not (out / f.name).exists():
            shutil.copy(f, out / f.name)
    del model
    return out
