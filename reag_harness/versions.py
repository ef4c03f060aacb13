"""Versions and git hash recorded in every run's results."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from functools import lru_cache
from pathlib import Path


def harness_version() -> str:
    try:
        return importlib.metadata.version("reag-harness")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"harness": harness_version(), "python": platform.python_version()}
    for name in ("torch", "transformers", "open_clip_torch", "faiss-cpu", "tensorflow", "vllm", "pluggy"):
        out[name] = package_version(name)
    return out


@lru_cache(maxsize=1)
def git_hash() -> str | None:
    """The harness checkout's commit (with ``-dirty``), or None outside a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
