"""Replace files and folders without ever leaving a half-written or missing one.

Temporary names carry ``<host>-<pid>-<random>``: unique under concurrent use, and a later
process can tell (same host, dead pid) that one was left by a killed writer and remove it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator


def _host() -> str:
    return socket.gethostname().replace(".", "_")


def temp_tag() -> str:
    """``<host>-<pid>-<random>``: unique per writer, tells later processes who wrote it."""
    return f"{_host()}-{os.getpid()}-{os.urandom(3).hex()}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def left_by_dead_writer(name: str) -> bool:
    """Whether a temporary name's ``<host>-<pid>-<random>`` tag names a dead process of this host."""
    m = re.search(rf"(?:^|[.-]){re.escape(_host())}-(\d+)-[0-9a-f]{{6}}(?:\.|$)", name)
    return m is not None and not pid_alive(int(m.group(1)))


def remove_stale(folder: Path, pattern: str) -> list[Path]:
    """Remove entries of ``folder`` matching ``pattern`` whose writer (by its tag) is dead."""
    return [_remove(p) for p in Path(folder).glob(pattern) if left_by_dead_writer(p.name)]


def _remove(p: Path) -> Path:
    """Remove a file, a symlink (never its target) or a folder; return its path."""
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
    return p


def old_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.old-{temp_tag()}")


@contextmanager
def replace_at_end(path: Path) -> Iterator[IO[str]]:
    """Write ``path`` beside it and replace it (never through a symlink) only when the block ends cleanly.

    An interrupted re-run leaves the previous file whole; the temporary file goes on any error.
    """
    tmp = path.with_name(f".{path.name}.{temp_tag()}.tmp")
    fh = open(tmp, "x", encoding="utf-8")
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        os.replace(tmp, path)  # replaces a symlink itself, never its target
    except BaseException:
        fh.close()
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented JSON at ``path``, through :func:`replace_at_end`."""
    with replace_at_end(path) as fh:
        json.dump(data, fh, indent=2, default=str)


def swap_folder(new: Path, target: Path) -> None:
    """Put the complete folder ``new`` at ``target``; an existing ``target`` is moved aside first.

    A kill between the two renames leaves the old folder under ``.<name>.old-<tag>``, which
    :func:`recover_folder` puts back; at no point is there a half-deleted ``target``.
    """
    aside = None
    if target.exists() or target.is_symlink():
        aside = old_name(target)
        os.replace(target, aside)
    try:
        os.replace(new, target)
    except BaseException:
        if aside is not None and not target.exists():
            os.replace(aside, target)
        raise
    if aside is not None:
        if aside.is_symlink():
            aside.unlink()
        else:
            shutil.rmtree(aside, ignore_errors=True)


def recover_folder(target: Path) -> bool:
    """When ``target`` is missing but a swap left the old one aside (writer dead), put it back."""
    if target.exists():
        for p in target.parent.glob(f".{target.name}.old-*"):
            if left_by_dead_writer(p.name):
                shutil.rmtree(p, ignore_errors=True)  # the swap finished; the rest was cleanup
        return False
    for p in sorted(target.parent.glob(f".{target.name}.old-*")):
        if p.is_dir() and left_by_dead_writer(p.name):
            os.replace(p, target)
            return True
    return False


def remove_leftovers(folder: Path, pattern: str) -> list[Path]:
    """Remove every entry of ``folder`` matching ``pattern``: call it only while holding the build lock,
    when any such temporary entry can only be the debris of a killed builder."""
    return [_remove(p) for p in Path(folder).glob(pattern)]


class LockTimeout(Exception):
    """The lock was not acquired within the timeout."""


@contextmanager
def exclusive_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a lock file) and remove the file on release.

    POSIX ``flock`` with an inode check: a waiter that got a lock on a file the holder has since
    unlinked sees the path no longer names its inode and tries again, so removing the lock file
    is safe and none is left behind. Elsewhere a ``filelock.FileLock`` (whose file stays).
    """
    try:
        import fcntl
    except ImportError:  # Windows
        from filelock import FileLock, Timeout

        try:
            with FileLock(str(path), timeout=timeout):
                yield
        except Timeout as exc:
            raise LockTimeout(str(path)) from exc
        return
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(str(path)) from None
                    time.sleep(0.01)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed the file we locked: lock the current one
    try:
        yield
    finally:
        try:
            os.unlink(path)
        finally:
            os.close(fd)  # releases the lock
