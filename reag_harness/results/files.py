"""A run folder and its results files: the folder made safely, the run's id, every invocation's results kept.

``results_<time>.json`` per run, ``results.json`` the latest (as lm-eval).

A run folder is one configuration; each invocation writes its results under a timestamped name
first, then replaces ``results.json`` with the same content. Nothing earlier is replaced.
Files in the folder that another configuration or tool wrote (a ``results.json`` with another
configuration fingerprint, or samples without any results of this configuration) are moved aside
under a ``.foreign-<time>`` name, and the move is printed: never overwritten.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.atomic import remove_stale, write_json_atomic
from ..core.errors import HarnessError

LATEST = "results.json"
RUN_FILES = ("samples.jsonl", "passage_texts.jsonl")


def stamp(now: datetime | None = None) -> str:
    """``2026-12-07T13-05-02.123456`` (UTC; sortable, safe in file names)."""
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H-%M-%S.%f")


def prepare_run_folder(folder: Path, create: bool = True) -> Path:
    """Create the run folder; an output path that is a file is a one-line error, not a traceback."""
    for p in (folder, *folder.parents):
        if p.exists() and not p.is_dir():
            raise HarnessError(f"--output-dir: {p} exists and is not a folder; choose another --output-dir")
    if not create:
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"--output-dir: cannot create the run folder {folder}: {exc.strerror or exc}") from exc
    remove_stale(folder, ".*.tmp")
    return folder


def unique_run_id(folder_name: str, now: datetime) -> str:
    """``<folder>__<UTC time to the microsecond>-<random>``: runs finishing together never share an id."""
    return f"{folder_name}__{now.strftime('%Y%m%dT%H%M%S%f')}-{os.urandom(3).hex()}"


def new_results_path(folder: Path, now: datetime | None = None) -> Path:
    """A ``results_<time>.json`` path in ``folder`` that no file holds yet."""
    base = f"results_{stamp(now)}"
    path = folder / f"{base}.json"
    n = 1
    while path.exists():  # two invocations within a microsecond
        path = folder / f"{base}-{n}.json"
        n += 1
    return path


def write_results(path: Path, data: Any) -> Path:
    """Write ``path`` (from :func:`new_results_path`), then make the folder's ``results.json`` the same."""
    write_json_atomic(path, data)
    write_json_atomic(path.parent / LATEST, data)
    return path


def results_path(run: str | Path) -> Path:
    """The results file of ``run``: a results file itself, else the folder's (or a sibling's) ``results.json``."""
    path = Path(run)
    if path.is_file() and path.name.startswith("results") and path.suffix == ".json":
        return path
    folder = path.parent if path.is_file() else path
    return folder / LATEST


def history(folder: Path) -> list[Path]:
    """The folder's timestamped results files, oldest first."""
    return sorted(folder.glob("results_*.json"))


def _fingerprint(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(data.get("config_fingerprint")) if isinstance(data, dict) and data.get("config_fingerprint") else None


def move_foreign(folder: Path, fingerprint: str, out: Any = None) -> list[Path]:
    """Move aside what another configuration or tool left in this run folder; return the new paths.

    Foreign: a ``results.json`` whose configuration fingerprint is not ``fingerprint`` (or that is
    not a run's results at all); ``samples.jsonl`` / ``passage_texts.jsonl`` when no results file
    of this configuration is in the folder.
    """
    latest = folder / LATEST
    ours = [p for p in history(folder) if _fingerprint(p) == fingerprint]
    if latest.is_file() and _fingerprint(latest) == fingerprint:
        ours.append(latest)
    names = [LATEST] if latest.is_file() and latest not in ours else []
    if not ours:
        names += [n for n in RUN_FILES if (folder / n).is_file()]
    moved = []
    tag = stamp()
    for name in names:
        target = folder / f"{name}.foreign-{tag}"
        os.replace(folder / name, target)
        moved.append(target)
    if moved:
        print(f"reag-eval: {folder} held files of another run or tool; moved aside, not overwritten: "
              + ", ".join(p.name for p in moved), file=out or sys.stderr)
    return moved
