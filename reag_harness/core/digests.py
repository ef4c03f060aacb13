"""Content digests of input files, so a cached record never outlives a changed file.

A file's bytes are hashed once and the digest memoised by (path, size, mtime, inode, ctime):
replacing a file in place, even by one with the same size and mtime (a copy with ``cp -p``),
changes its inode or ctime, so it is hashed again. The memo persists under
``$REAG_HARNESS_CACHE/digests/`` (append-only part files, one per writing process), so a
re-run of a cached configuration only ``stat``s its images instead of reading them all.
A lost or stale memo line costs a re-hash, never a wrong answer.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

COMPACT_AT = 16  # part files before they are merged into one on load

_memo: dict[tuple[Any, ...], str] | None = None
_memo_dir: Path | None = None
_memo_env: tuple[str | None, str | None] | None = None
_part: Path | None = None
_seen: dict[str, str | None] | None = None  # within looked_at_once(): path -> digest


def _key(path: str | os.PathLike[str]) -> tuple[Any, ...] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _folder() -> Path:
    from .paths import cache_dir

    return cache_dir() / "digests"


def _load() -> dict[tuple[Any, ...], str]:
    """The memo for the current cache folder (reloaded when ``$REAG_HARNESS_CACHE`` changes)."""
    global _memo, _memo_dir, _memo_env, _part
    env = (os.environ.get("REAG_HARNESS_CACHE"), os.environ.get("HOME"))
    if _memo is not None and env == _memo_env:
        return _memo  # same cache folder: no path building per file (a cached run asks per sample)
    folder = _folder()
    if _memo is not None and folder == _memo_dir:
        _memo_env = env
        return _memo
    memo: dict[tuple[Any, ...], str] = {}
    parts = sorted(folder.glob("part-*.jsonl")) if folder.is_dir() else []
    for part in parts:
        try:
            with open(part, "rb") as fh:
                for raw in fh:
                    if raw.endswith(b"\n"):
                        try:
                            line = json.loads(raw)
                            memo[tuple(line["k"])] = str(line["d"])
                        except (ValueError, KeyError, TypeError):
                            continue
        except OSError:
            continue
    _memo, _memo_dir, _memo_env, _part = memo, folder, env, None
    if len(parts) >= COMPACT_AT:
        _compact(folder, parts, memo)
    return memo


def _compact(folder: Path, parts: list[Path], memo: dict[tuple[Any, ...], str]) -> None:
    from .atomic import temp_tag

    merged = folder / f"part-merged-{temp_tag()}.jsonl"
    tmp = folder / f".{merged.name}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"k": list(k), "d": d}) + "\n" for k, d in memo.items())
        os.replace(tmp, merged)
    except OSError:
        tmp.unlink(missing_ok=True)
        return
    for part in parts:
        part.unlink(missing_ok=True)


def _remember(key: tuple[Any, ...], digest: str) -> None:
    global _part
    if _memo_dir is None:
        return
    try:
        if _part is None:
            from .atomic import temp_tag

            _memo_dir.mkdir(parents=True, exist_ok=True)
            _part = _memo_dir / f"part-{temp_tag()}.jsonl"
        with open(_part, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"k": list(key), "d": digest}) + "\n")
    except OSError:
        pass  # a memo that cannot be written only costs a re-hash next time


@contextmanager
def looked_at_once() -> Iterator[None]:
    """Within the block, each file (by the path as given) is looked at once: one ``stat``, not one per stage.

    The runner wraps each batch in it (a query image is asked for by the retrieval, the critic and
    the generation checks); a file replaced while its batch runs is seen from the next batch on.
    """
    global _seen
    outer, _seen = _seen, {}
    try:
        yield
    finally:
        _seen = outer


def content_digest(path: str | os.PathLike[str] | None) -> str | None:
    """sha256 (first 32 hex digits) of the file's bytes; None when there is no such file."""
    if path is None:
        return None
    seen = _seen
    if seen is not None and type(path) is str:
        if path not in seen:
            seen[path] = _content_digest(path)
        return seen[path]
    return _content_digest(path)


def _content_digest(path: str | os.PathLike[str]) -> str | None:
    key = _key(path)
    if key is None:
        return None
    memo = _load()
    digest = memo.get(key)
    if digest is None:
        h = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except (IsADirectoryError, PermissionError):
            return None
        digest = memo[key] = h.hexdigest()[:32]
        _remember(key, digest)
    return digest


def digests(paths: Iterable[str | os.PathLike[str] | None]) -> list[str | None]:
    return [content_digest(p) for p in paths]
