"""Reading a run folder: ``results.json`` and the sample logs in ``samples.jsonl``.

Every reader of a run's samples (viewer, score, compare) goes through :func:`load_sample_logs`,
so a change of the on-disk layout changes one function.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import HarnessError, InputError
from .jsonio import iter_jsonl


def run_folder(run: str | Path) -> Path:
    """The run folder of ``run`` (a folder, or its ``results.json`` / ``samples.jsonl``)."""
    path = Path(run)
    return path.parent if path.is_file() else path


def load_sample_logs(run_dir: str | Path) -> list[dict[str, Any]]:
    """The samples of a run, in file order, with their passage texts filled in."""
    path = run_folder(run_dir) / "samples.jsonl"
    if not path.is_file():
        raise HarnessError(f"{run_folder(run_dir)}: not a run folder (no samples.jsonl)")
    out = []
    for line, row in iter_jsonl(path):
        if not isinstance(row, dict) or "id" not in row:
            raise InputError(str(path), "a sample log must be an object with an 'id'", line=line, field="id")
        out.append(row)
    return out


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``results.json`` (``{}`` when the run has none, e.g. killed before the end)."""
    path = run_folder(run_dir) / "results.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON ({exc.msg})", line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise InputError(str(path), "expected a JSON object")
    return data
