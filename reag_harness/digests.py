"""Content digests of input files, so a cached record never outlives a changed file.

A file's bytes are hashed once per process and memoised by (path, size, mtime, inode, ctime):
replacing a file in place, even with one of the same size and mtime (a copy with ``cp -p``),
changes its inode or ctime and so its digest is recomputed.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Iterable

_MEMO: dict[tuple[Any, ...], str] = {}


def content_digest(path: str | os.PathLike[str] | None) -> str | None:
    """sha256 (first 32 hex digits) of the file's bytes; None when there is no such file."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    digest = _MEMO.get(key)
    if digest is None:
        h = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except (IsADirectoryError, PermissionError):
            return None
        digest = _MEMO[key] = h.hexdigest()[:32]
    return digest


def digests(paths: Iterable[str | os.PathLike[str] | None]) -> list[str | None]:
    return [content_digest(p) for p in paths]
