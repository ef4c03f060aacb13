"""Tiny synthetic EVQA / InfoSeek data for the task, KB and retriever tests (written at test time)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def synth():
    """``benchmarks/make_synthetic_kb.py`` as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_synthetic_kb", ROOT / "benchmarks" / "make_synthetic_kb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module
