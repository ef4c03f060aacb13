"""Unpack an archive safely: into a temporary sibling folder, renamed into place when complete.

Members that would leave the folder are refused before anything is written: absolute paths, ``..``
(zip-slip), links pointing outside, devices. A marker file (``.reag_unpacked.json``, with the
archive's sha256) says the folder is a complete unpack of that archive.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from ...core.atomic import remove_stale, temp_tag
from ...core.errors import HarnessError

MARKER = ".reag_unpacked.json"


class UnsafeArchiveError(HarnessError):
    """An archive member that would be written outside the unpack folder."""


def _check_name(archive: Path, name: str) -> None:
    """Refuse absolute paths, drive letters and ``..`` that climb out."""
    text = name.replace("\\", "/")
    pure = PurePosixPath(text)
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise UnsafeArchiveError(f"{archive.name}: member {name!r} has an absolute path; refused (nothing unpacked)")
    depth = 0
    for part in pure.parts:
        depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
        if depth < 0:
            raise UnsafeArchiveError(f"{archive.name}: member {name!r} leaves the unpack folder (zip-slip); "
                                     "refused (nothing unpacked)")


def _check_link(archive: Path, name: str, target: str) -> None:
    """A link must point inside the folder (relative to the link's own folder)."""
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        raise UnsafeArchiveError(f"{archive.name}: link {name!r} -> {target!r} points outside; refused")
    _check_name(archive, str(PurePosixPath(name).parent / target))


def members_zip(archive: Path, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        _check_name(archive, info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            _check_link(archive, info.filename, zf.read(info).decode("utf-8", "replace"))


def members_tar(archive: Path, tf: tarfile.TarFile) -> None:
    for m in tf.getmembers():
        _check_name(archive, m.name)
        if m.issym():
            _check_link(archive, m.name, m.linkname)
        elif m.islnk():
            _check_name(archive, m.linkname)
        elif not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"{archive.name}: member {m.name!r} is a device or fifo; refused")


def _extract_zip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        members_zip(archive, zf)
        for info in zf.infolist():
            out = into / info.filename
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(info.external_attr >> 16):
                os.symlink(zf.read(info).decode("utf-8"), out)
                continue
            with zf.open(info) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def _extract_tar(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tf:
        members_tar(archive, tf)
        if hasattr(tarfile, "data_filter"):
            tf.extractall(into, filter="data")
        else:  # pragma: no cover - Python without extraction filters; members were checked above
            tf.extractall(into)  # noqa: S202


def unpack(archive: Path, kind: str, dest: Path, sha256: str) -> Path:
    """Unpack ``archive`` into ``dest`` (via a temporary sibling, renamed); return ``dest``.

    An existing ``dest`` is replaced only if it is an earlier unpack (it has the marker); any other
    existing folder is refused.
    """
    if dest.exists() and not (dest / MARKER).is_file():
        raise HarnessError(f"{dest}: exists and is not an unpack made by data get; move it away first")
    remove_stale(dest.parent, f".{dest.name}.unpacking-*")
    tmp = dest.parent / f".{dest.name}.unpacking-{temp_tag()}"
    tmp.mkdir(parents=True)
    try:
        (_extract_zip if kind == "zip" else _extract_tar)(archive, tmp)
        (tmp / MARKER).write_text(json.dumps({"archive": archive.name, "sha256": sha256}) + "\n", encoding="utf-8")
        if dest.exists():
            old = dest.parent / f".{dest.name}.old-{temp_tag()}"
            os.rename(dest, old)
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def unpacked_sha256(dest: Path) -> str | None:
    """The archive sha256 recorded in a complete unpack, or None."""
    try:
        return json.loads((dest / MARKER).read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError):
        return None


def role_path(dest: Path, member: str | None) -> Path:
    """What the role points to: the member, else the single top-level folder, else the folder."""
    if member:
        return dest / member
    entries = [p for p in dest.iterdir() if p.name != MARKER and not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest
