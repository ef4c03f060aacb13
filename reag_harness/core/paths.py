"""Where the harness keeps things: one cache root for tiny checkpoints, built indexes and stage records."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$REAG_HARNESS_CACHE`` or ``~/.cache/reag_harness`` (created on demand)."""
    root = Path(os.environ.get("REAG_HARNESS_CACHE") or Path.home() / ".cache" / "reag_harness")
    root.mkdir(parents=True, exist_ok=True)
    return root


def tiny_dir(name: str) -> Path:
    """Folder for a tiny checkpoint built on first use, e.g. ``tiny_dir("qwen2_5_vl-v1")``."""
    return cache_dir() / "tiny" / name


def stage_cache_dir() -> Path:
    return cache_dir() / "stages"
