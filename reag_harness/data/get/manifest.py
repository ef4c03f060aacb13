"""Data manifests (what ``reag-eval data get TASK`` fetches) and the lock file (what it verified).

A manifest is JSON: ``{"task": "evqa", "files": [ENTRY, ...], "models": [MODEL, ...]}``. An ENTRY has
``name``, ``role`` (the task argument it fills), ``url`` or ``urls`` (mirrors, tried in order),
``size`` (bytes, ``null`` where unpublished), ``sha256`` (``null`` where unpublished), optional
``unpack`` (``zip`` | ``tar``), ``member`` (the file inside the archive the role points to),
``member_sha256`` (checked after unpacking), ``size_estimate`` / ``unpacked_size`` (bytes, for the
disk-space check when no exact size is published) and ``source`` (where the facts come from).
A MODEL is ``{"repo_id": ..., "revision": null, "role": ...}`` (fetched with ``huggingface_hub``).

The shipped manifests live in ``reag_harness/data/get/manifests/TASK.json``; ``--manifest FILE``
replaces them (mirrors, air-gapped clusters, tests).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ...core.errors import HarnessError, InputError

UNPACK_KINDS = ("zip", "tar")
# role -> the task argument it fills (None: fetched, not a task argument)
ROLE_ARGS: dict[str, str | None] = {
    "queries": "queries", "images": "images", "kb": "kb", "lens": "lens", "index": "index",
    "qtypes": "qtypes", "references": "references", "image_map": "image_map", "bem": "bem_model",
    "bem_vocab": "bem_vocab", "extra": None,
}
LOCK_NAME = "manifest.lock.json"
_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Entry:
    """One file of a manifest."""

    name: str
    role: str
    urls: list[str]
    size: int | None = None
    sha256: str | None = None
    unpack: str | None = None
    member: str | None = None
    member_sha256: str | None = None
    size_estimate: int | None = None
    unpacked_size: int | None = None
    source: str = ""

    @property
    def planned_size(self) -> int:
        """Bytes to plan for the download: the exact size, else the estimate, else 0."""
        return self.size if self.size is not None else (self.size_estimate or 0)

    @property
    def folder_name(self) -> str:
        """The folder an archive is unpacked into: its name without the archive suffix."""
        for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"):
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.name + ".d"


@dataclass
class Manifest:
    task: str
    files: list[Entry]
    models: list[dict[str, Any]] = field(default_factory=list)
    path: str = ""


def _int_or_none(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(where, f"expected a byte count (a non-negative integer) or null, got {value!r}", field=key)
    return value


def _entry(raw: Any, where: str, index: int) -> Entry:
    at = f"{where} (files[{index}])"
    if not isinstance(raw, dict):
        raise InputError(at, "a file entry must be a JSON object")
    for key in ("name", "role"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise InputError(at, "missing or not a string", field=key)
    name = raw["name"]
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise InputError(at, f"must be a plain file name, got {name!r}", field="name")
    if raw["role"] not in ROLE_ARGS:
        raise InputError(at, f"unknown role {raw['role']!r} (known: {', '.join(ROLE_ARGS)})", field="role")
    urls = raw.get("urls") if raw.get("urls") is not None else ([raw["url"]] if raw.get("url") else [])
    if not urls or not all(isinstance(u, str) and "://" in u for u in urls):
        raise InputError(at, "needs url (a string) or urls (a list of mirrors)", field="url")
    for key in ("sha256", "member_sha256"):
        value = raw.get(key)
        if value is not None and not (isinstance(value, str) and _SHA.match(value.lower())):
            raise InputError(at, f"expected 64 hex digits or null, got {value!r}", field=key)
    unpack = raw.get("unpack")
    if unpack is not None and unpack not in UNPACK_KINDS:
        raise InputError(at, f"expected one of {', '.join(UNPACK_KINDS)}, got {unpack!r}", field="unpack")
    member = raw.get("member")
    if member and not unpack:
        raise InputError(at, "member needs unpack", field="member")
    if member is not None and (not isinstance(member, str) or member.startswith(("/", "\\"))
                               or ".." in member.replace("\\", "/").split("/")):
        raise InputError(at, f"must be a relative path inside the archive, got {member!r}", field="member")
    known = {"name", "role", "url", "urls", "size", "sha256", "unpack", "member", "member_sha256",
             "size_estimate", "unpacked_size", "source", "note"}
    for key in raw:
        if key not in known:
            raise InputError(at, f"unknown field (known: {', '.join(sorted(known))})", field=key)
    return Entry(name=name, role=raw["role"], urls=list(urls), size=_int_or_none(raw.get("size"), at, "size"),
                 sha256=(raw.get("sha256") or None) and raw["sha256"].lower(), unpack=unpack,
                 member=raw.get("member") or None,
                 member_sha256=(raw.get("member_sha256") or None) and raw["member_sha256"].lower(),
                 size_estimate=_int_or_none(raw.get("size_estimate"), at, "size_estimate"),
                 unpacked_size=_int_or_none(raw.get("unpacked_size"), at, "unpacked_size"),
                 source=str(raw.get("source") or ""))


def parse_manifest(data: Any, where: str) -> Manifest:
    if not isinstance(data, dict):
        raise InputError(where, "a manifest must be a JSON object {\"task\": ..., \"files\": [...]}")
    if not isinstance(data.get("task"), str):
        raise InputError(where, "missing or not a string", field="task")
    files = data.get("files", [])
    if not isinstance(files, list):
        raise InputError(where, "expected a list", field="files")
    entries = [_entry(raw, where, i) for i, raw in enumerate(files)]
    seen: set[str] = set()
    for e in entries:
        if e.name in seen:
            raise InputError(where, f"file name {e.name!r} appears twice", field="name")
        seen.add(e.name)
    models = data.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, dict) and isinstance(m.get("repo_id"), str)
                                               for m in models):
        raise InputError(where, "expected a list of {\"repo_id\": ..., \"revision\": ...}", field="models")
    return Manifest(task=data["task"], files=entries, models=models, path=where)


def shipped_tasks() -> list[str]:
    folder = resources.files("reag_harness.data.get") / "manifests"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_manifest(task: str, path: str | None = None) -> Manifest:
    """The manifest at ``path``, else the one shipped for ``task``."""
    if path:
        p = Path(path)
        if not p.is_file():
            raise InputError(str(p), "manifest file not found")
        text, where = p.read_text(encoding="utf-8"), str(p)
    else:
        res = resources.files("reag_harness.data.get") / "manifests" / f"{task}.json"
        if not res.is_file():
            raise HarnessError(f"no data manifest shipped for task '{task}' (shipped: {', '.join(shipped_tasks())}); "
                               "give one with --manifest FILE")
        text, where = res.read_text(encoding="utf-8"), f"manifest {task}.json"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(where, f"not valid JSON: {exc.msg}", line=exc.lineno) from exc
    manifest = parse_manifest(data, where)
    if manifest.task != task:
        raise InputError(where, f"is the manifest of task '{manifest.task}', not '{task}'", field="task")
    return manifest


# -- the lock file: what was downloaded and verified --------------------------------------------------
def read_lock(folder: Path) -> dict[str, Any]:
    path = folder / LOCK_NAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON: {exc.msg}", line=exc.lineno) from exc
    if not isinstance(data, dict) or not isinstance(data.get("files", {}), dict):
        raise InputError(str(path), "expected {\"files\": {NAME: {...}}}")
    return data.get("files", {})


def write_lock(folder: Path, files: dict[str, Any]) -> None:
    """Write the lock file beside, then rename it into place."""
    path = folder / LOCK_NAME
    tmp = folder / f".{LOCK_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
