"""An index of a stage store's part files: key -> (file, byte offset), records read on demand.

Opening a store no longer parses and holds every record: one pass over the part files reads
only each line's key (a byte slice, no JSON decoding) and remembers where the line starts. A
lookup seeks to that line and decodes it once. Memory is one small entry per key, not the
records themselves.

Per-passage records (the critic's pairs, stored as each model batch finishes so that a kill
loses at most one batch) go to their own ``part-*.pairs.jsonl`` files. They matter only for a
sample whose whole record is missing (a run killed mid-chunk), so they are indexed lazily, on the
first lookup, and only for owners (the key before ``#``) that have no whole record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

PAIRS_SUFFIX = ".pairs.jsonl"
_PREFIX = b'{"key": "'
_END = b'", "check": '
_OFFSET_BITS = 40  # files up to 1 TiB; the file number sits above
_OPEN_FILES = 32
_FLOATS_AS_TEXT = json.JSONDecoder(parse_float=str).decode  # made once (json.loads with options makes one per call)


def line_key(raw: bytes) -> str | None:
    """The key of a store line, read from its first bytes; None for a line that is not a record."""
    if raw.startswith(_PREFIX):
        end = raw.find(_END, len(_PREFIX))
        if end > 0:
            seg = raw[len(_PREFIX):end]
            if b"\\" not in seg:
                return seg.decode("utf-8", "replace")
            return json.loads(b'"' + seg + b'"')
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    return line.get("key") if isinstance(line, dict) else None


class PartIndex:
    """Where the newest line of each key is, over part files read oldest first."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.where: dict[str, int] = {}
        self.owners: set[str] = set()  # owners of per-item keys (``"q1"`` of ``"q1#passage3"``)
        self._open: dict[int, Any] = {}

    def add_file(self, path: Path, keep: Any = None) -> None:
        """Index ``path`` (lines in order, so a later line of a key wins); ``keep(key)`` filters keys.

        A last line without its newline (cut short by a kill) is left out.
        """
        number = len(self.files)
        self.files.append(path)
        base = number << _OFFSET_BITS
        offset = 0
        where = self.where
        with open(path, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break
                key = line_key(raw)
                if key is not None and (keep is None or keep(key)):
                    where[key] = base | offset
                    if "#" in key:
                        self.owners.add(owner(key))
                offset += len(raw)

    def read(self, key: str, floats_as_text: bool = False) -> dict[str, Any] | None:
        """The stored line of ``key`` decoded (``{"key", "check", "record"}``), or None; ``floats_as_text``:
        each JSON number with a fraction or exponent as its text (what :func:`float` reads back)."""
        pos = self.where.get(key)
        if pos is None:
            return None
        number, offset = pos >> _OFFSET_BITS, pos & ((1 << _OFFSET_BITS) - 1)
        fh = self._open.get(number)
        if fh is None:
            if len(self._open) >= _OPEN_FILES:
                self.close()
            fh = self._open[number] = open(self.files[number], "rb")
        fh.seek(offset)
        try:
            raw = fh.readline()
            line = _FLOATS_AS_TEXT(raw.decode("utf-8")) if floats_as_text else json.loads(raw)
        except ValueError:
            return None
        return line if isinstance(line, dict) and line.get("key") == key else None

    def close(self) -> None:
        for fh in self._open.values():
            fh.close()
        self._open.clear()

    def __len__(self) -> int:
        return len(self.where)

    def __contains__(self, key: object) -> bool:
        return key in self.where


def owner(key: str) -> str:
    """The whole-record key a per-item key belongs to (``"q1#passage3"`` -> ``"q1"``)."""
    return key.rsplit("#", 1)[0]


def index_parts(parts: Iterable[Path]) -> PartIndex:
    index = PartIndex()
    for part in parts:
        index.add_file(part)
    return index
