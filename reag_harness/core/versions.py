"""Versions and git hash recorded in every run's results."""

from __future__ import annotations

import importlib.metadata
import json
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
    """The harness's own commit, or None when it cannot be known.

    From the harness's own git checkout (an editable or in-place install: the folder holding this
    package is the top of a reag-harness repository), with ``-dirty`` when it has local changes;
    else from the install's ``direct_url.json`` (``pip install git+...`` records the commit);
    never from a repository that merely contains the virtual environment.
    """
    return _checkout_commit() or _direct_url_commit()


def _checkout_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent.parent
    try:
        if not (root / ".git").exists() or 'name = "reag-harness"' not in (root / "pyproject.toml").read_text():
            return None
    except OSError:
        return None
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True, text=True,
                             timeout=5)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root:
            return None
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _direct_url_commit() -> str | None:
    try:
        text = importlib.metadata.distribution("reag-harness").read_text("direct_url.json")
        data = json.loads(text) if text else {}
    except (importlib.metadata.PackageNotFoundError, ValueError, OSError):
        return None
    commit = (data.get("vcs_info") or {}).get("commit_id") if isinstance(data, dict) else None
    return str(commit) if commit else None


def project_url(doc: str | None = None) -> str:
    """Where a user reads ``doc`` (e.g. ``"data.md"``), for error messages.

    The Documentation URL of ``[project.urls]`` when the package metadata has one; otherwise the
    docs shipped inside the package (``reag_harness.docs``, package data of every install,
    wheel included), as a file path; otherwise the file's name in the reag-harness repository.
    """
    base = None
    try:
        for entry in importlib.metadata.metadata("reag-harness").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() == "documentation":
                base = url.strip().rstrip("/")
                break
    except importlib.metadata.PackageNotFoundError:
        pass
    if base is not None:
        return f"{base}/{doc}" if doc else base
    shipped = shipped_doc(doc or "README.md")
    if shipped is not None:
        return str(shipped)
    return f"docs/{doc} in the reag-harness repository" if doc else "the reag-harness README"


doc_ref = project_url
"""The name messages use: ``f"see {doc_ref('models.md')}"``."""


def shipped_doc(doc: str) -> Path | None:
    """The installed copy of ``docs/<doc>`` (package data ``reag_harness.docs``), if there is one."""
    from importlib.resources import files

    try:
        path = Path(str(files("reag_harness.docs").joinpath(doc)))
    except (ModuleNotFoundError, TypeError, ValueError):
        # an editable install made before the mapping
        path = Path(__file__).resolve().parent.parent.parent / "docs" / doc
    return path if path.is_file() else None
