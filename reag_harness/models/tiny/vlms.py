"""Tiny random checkpoints of every supported family, built offline on first use (tests, demos).

Each has its family's real architecture class, processor class, special tokens and chat
template (written from the published checkpoints' ``chat_template``), only very small, and
loads through the same ``AutoProcessor`` / ``AutoModelFor...`` ``from_pretrained`` path as
the hub checkpoints. Tokenizers are byte-level BPEs trained offline on a small corpus
(:func:`reag_harness.models.tiny.qwen.train_tiny_bpe`) plus the family's special tokens.
Weights are random (seeded): answers are meaningless.

Use them by name: ``pretrained=tiny:<family>`` (:data:`TINY_FAMILIES`), or the path from
:func:`tiny_checkpoint`. They live under the harness cache (``tiny/<family>-v1``). The
builders are in :mod:`~reag_harness.models.tiny.vlm_builders` (their shared pieces in
:mod:`~reag_harness.models.tiny.vlm_parts`, their chat templates in
:mod:`~reag_harness.models.tiny.chat_templates`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from reag_harness.core.errors import HarnessError

from .blip2_reranker import build_blip2_reranker
from .qwen import build_once, tiny_qwen25vl_path
from .reflectiva import build_reflectiva
from .vlm_builders import (
    build_blip2,
    build_gemma3,
    build_internvl,
    build_llama,
    build_llava,
    build_llava_onevision,
    build_qwen2vl,
    build_smolvlm,
)

TINY_FAMILIES: dict[str, Callable[[Path], Path]] = {
    "qwen2-vl": build_qwen2vl,
    "qwen2.5-vl": lambda path: path,  # built by tiny_qwen (see tiny_checkpoint)
    "llava": build_llava,
    "llava-onevision": build_llava_onevision,
    "internvl": build_internvl,
    "smolvlm": build_smolvlm,
    "gemma3": build_gemma3,
    "blip-2": build_blip2,
    "llama": build_llama,
    "reflectiva": build_reflectiva,  # original llava_llama layout (tiny_reflectiva)
    "blip2-reranker": build_blip2_reranker,  # EchoSight's Q-Former (tiny_blip2_reranker)
    "llama-hd64": lambda path: build_llama(path, head_dim=64),
}
"""``tiny:<name>`` -> builder. ``llama`` (and ``llama-hd64``, the same with 64-wide attention heads, which
vLLM's CPU backend accepts) is a text-only LM (for ``hf-llm``); the rest are VLMs."""

VERSION = "v1"


def tiny_checkpoint(family: str) -> Path:
    """The folder of the tiny checkpoint of ``family`` (a key of :data:`TINY_FAMILIES`), built on first use."""
    key = family.strip().lower().replace("_", "-")
    if key == "qwen2.5-vl":
        return tiny_qwen25vl_path()
    if key not in TINY_FAMILIES:
        raise HarnessError(f"no tiny checkpoint '{family}': use one of "
                           + ", ".join(f"tiny:{name}" for name in TINY_FAMILIES))
    return build_once(f"{key}-{VERSION}", TINY_FAMILIES[key])


def build_all() -> dict[str, Path]:
    """Every tiny checkpoint (built once); for fixtures and ``python -m reag_harness.models.tiny.vlms``."""
    return {name: tiny_checkpoint(name) for name in TINY_FAMILIES}


if __name__ == "__main__":  # pragma: no cover - a convenience for building the cache ahead of time
    for name, folder in build_all().items():
        print(f"tiny:{name}\t{folder}\t{sum(f.stat().st_size for f in folder.iterdir()) // 1024} KiB")
    os._exit(0)
