"""Reading JSON lines with errors that name the file and the line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from .errors import InputError


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line, object)`` for each non-blank line of a JSONL file; a bad line names its number."""
    with open(path, encoding="utf-8") as f:
        for i, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                yield i, json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputError(str(path), f"malformed JSON line: {exc.msg} (column {exc.colno})", line=i) from exc
