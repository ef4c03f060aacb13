"""Qwen2.5-VL through the generic VLM path: the names the Qwen components and tests use.

Everything here is the generic path (:mod:`reag_harness.models.hf_vlm` and the modules below it)
with Qwen-VL's defaults (ReAG's pixel bounds 3136..301056); the critic and the generator share
one loaded checkpoint, like every other family.
"""

from __future__ import annotations

from typing import Any

# re-exported: the Qwen components and their tests use these names
from .hf_checkpoints import checkpoint_identity, resolve_checkpoint  # noqa: F401
from .hf_loading import DTYPES, LOAD_COUNTS, clear_cache, default_attn_implementation, load_processor  # noqa: F401
from .hf_prompts import (  # noqa: F401
    Prompt,
    batch_inputs,
    check_images,
    load_image,
    message_images,
    prompt_length,
    render,
    single_token_id,
    truncate_at_stop,
)
from .hf_vlm import BACKENDS, VLMComponent, load_vlm  # noqa: F401

QWEN_MIN_PIXELS = 3136
QWEN_MAX_PIXELS = 301056

QwenVLComponent = VLMComponent
"""The base of the Qwen critic and generator (the generic VLM component)."""


def load_qwen_vl(
    pretrained: str,
    device: str = "cpu",
    dtype: str = "float32",
    attn_implementation: str | None = None,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
    model_max_length: int = 16384,
) -> tuple[Any, Any]:
    """``(model, processor)`` for a Qwen2.5-VL checkpoint, cached per process (see :func:`.hf_vlm.load_vlm`)."""
    return load_vlm(pretrained, device, dtype, attn_implementation, min_pixels=min_pixels, max_pixels=max_pixels,
                    model_max_length=model_max_length)


def load_qwen_processor(
    pretrained: str, min_pixels: int = QWEN_MIN_PIXELS, max_pixels: int = QWEN_MAX_PIXELS,
    model_max_length: int = 16384,
) -> Any:
    """The checkpoint's processor alone (the vLLM backend renders prompts with it), cached per process."""
    return load_processor(pretrained, min_pixels, max_pixels, model_max_length)
