"""``reag-eval data get TASK``: plan (what is present and verified), check disk space, download in
parallel, unpack, build the KB store, write ``DIR/TASK/task.yaml``.

Nothing touches the network until the plan says a file is missing; a second run with everything in
place makes no request. Whether a present file is verified is remembered in ``manifest.lock.json``
(sha256 with the file's size and mtime), so large files are hashed once.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ...core.errors import HarnessError
from .download import ChecksumError, fetch, human, sha256_file
from .manifest import LOCK_NAME, ROLE_ARGS, Entry, Manifest, read_lock, write_lock
from .unpack import MARKER, role_path, unpack, unpacked_sha256

FREE_BYTES_ENV = "REAG_DATA_FREE_BYTES"  # caps the free space seen (quota'd filesystems; tests)
KB_STORE = "kb_store"


@dataclass
class Item:
    """One manifest file and what is already on disk."""

    entry: Entry
    archive: Path
    state: str  # verified | unpack | missing | mismatch
    have: int = 0  # bytes of a partial download
    detail: str = ""

    @property
    def folder(self) -> Path:
        return self.archive.parent / self.entry.folder_name


def free_bytes(folder: Path) -> int:
    """Free space where ``folder`` is (or would be), capped by ``$REAG_DATA_FREE_BYTES`` when set."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    cap = os.environ.get(FREE_BYTES_ENV)
    if cap:
        try:
            free = min(free, int(cap))
        except ValueError as exc:
            raise HarnessError(f"${FREE_BYTES_ENV}={cap!r}: expected a byte count") from exc
    return free


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _expected(entry: Entry, lock: dict[str, Any]) -> str | None:
    return entry.sha256 or (lock.get(entry.name) or {}).get("sha256")


def _file_verified(path: Path, entry: Entry, lock: dict[str, Any], hash_ok: bool) -> tuple[bool, str]:
    """(verified, detail) for a file at its final path; hashes it unless the lock's stamp matches."""
    rec = lock.get(entry.name) or {}
    expected = _expected(entry, lock)
    if entry.size is not None and path.stat().st_size != entry.size:
        return False, f"size {path.stat().st_size} != expected {entry.size}"
    if rec.get("sha256") and rec.get("sha256") == expected and all(rec.get(k) == v for k, v in _stamp(path).items()):
        return True, "verified (lock)"
    if not hash_ok:
        return False, "present, not yet verified"
    actual = sha256_file(path)
    if expected and actual != expected:
        return False, f"sha256 {actual} != expected {expected}"
    lock[entry.name] = {**rec, "sha256": actual, **_stamp(path)}
    return True, "verified"


def plan(manifest: Manifest, folder: Path, roles: set[str] | None, lock: dict[str, Any],
         hash_ok: bool = True) -> list[Item]:
    items = []
    for e in manifest.files:
        if roles is not None and e.role not in roles:
            continue
        archive = folder / e.name
        item = Item(e, archive, "missing")
        expected = _expected(e, lock)
        if e.unpack and (item.folder / MARKER).is_file() and (expected is None or unpacked_sha256(item.folder)
                                                                 == expected):
            item.state, item.detail = "verified", "unpacked, verified"
        elif archive.is_file():
            ok, item.detail = _file_verified(archive, e, lock, hash_ok)
            item.state = ("unpack" if e.unpack else "verified") if ok else "mismatch"
        else:
            part = archive.with_name(archive.name + ".part")
            item.have = part.stat().st_size if part.is_file() else 0
            item.detail = f"partial, {human(item.have)} kept" if item.have else "missing"
        items.append(item)
    return items


def needed_bytes(items: list[Item]) -> int:
    """Disk space still needed: the rest of each download, its unpacked size, a KB store."""
    total = 0
    for it in items:
        e = it.entry
        extracted = (e.unpacked_size or e.planned_size) if e.unpack else 0
        if it.state == "missing":
            total += max(0, e.planned_size - it.have) + extracted
        elif it.state == "unpack":
            total += extracted
        if e.role == "kb" and it.state != "verified":
            total += e.unpacked_size or e.planned_size  # the store is about the size of the KB JSON
    return total


def dry_run(manifest: Manifest, folder: Path, items: list[Item], out: TextIO) -> int:
    out.write(f"data get {manifest.task}: into {folder} (manifest: {manifest.path})\n")
    for it in items:
        e = it.entry
        size = human(e.size) if e.size is not None else (f"~{human(e.size_estimate)} (estimate)"
                                                          if e.size_estimate else "size unknown")
        sha = "sha256 published" if e.sha256 else ("member sha256 published" if e.member_sha256 else
                                                    "no published sha256")
        out.write(f"  {e.name:<34} {e.role:<9} {size:<22} {it.detail:<28} {sha}\n")
    need, free = needed_bytes(items), free_bytes(folder)
    out.write(f"disk: {human(need)} still needed, {human(free)} free in {folder}"
              + ("" if need <= free else "  -- NOT ENOUGH") + "\n")
    for m in manifest.models:
        out.write(f"  model {m['repo_id']} (revision {m.get('revision') or 'main'}): reag-eval data get "
                  f"{manifest.task} --only models\n")
    return 0


def _download_all(items: list[Item], lock: dict[str, Any], jobs: int, err: TextIO, interval_s: float,
                  folder: Path) -> list[str]:
    guard = threading.Lock()
    errors: list[str] = []

    def one(it: Item) -> None:
        e = it.entry
        expected = _expected(e, lock)
        from_lock = expected is not None and e.sha256 is None
        try:
            actual = fetch(e.urls, it.archive, e.size, expected, stream=err, interval_s=interval_s)
        except ChecksumError as exc:
            extra = f" (the sha256 recorded by the first download in {LOCK_NAME})" if from_lock else ""
            with guard:
                errors.append(str(exc) + extra)
            return
        except HarnessError as exc:
            with guard:
                errors.append(str(exc))
            return
        with guard:
            lock[e.name] = {"sha256": actual, "url": e.urls[0], "published": e.sha256 is not None,
                            **_stamp(it.archive)}
            it.state = "unpack" if e.unpack else "verified"
            write_lock(folder, lock)  # a kill after this keeps the record

    todo = [it for it in items if it.state == "missing"]
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(todo) or 1))) as pool:
        list(pool.map(one, todo))
    return errors


def _finish(it: Item, lock: dict[str, Any], remove_archives: bool, task: str, out: TextIO) -> Path:
    """Unpack, check the member, build the KB store; return what the role points to."""
    e = it.entry
    if not e.unpack:
        target = it.archive
    else:
        if it.state == "unpack":
            out.write(f"data get: unpacking {e.name} into {it.folder}\n")
            unpack(it.archive, e.unpack, it.folder, lock[e.name]["sha256"])
            it.state = "verified"
        target = role_path(it.folder, e.member)
        if e.member and not target.is_file():
            raise HarnessError(f"{e.name}: member {e.member!r} not found in the archive")
        rec = lock.setdefault(e.name, {})
        if e.member and e.member_sha256 and rec.get("member_sha256") != e.member_sha256:
            out.write(f"data get: verifying {e.member} (published sha256)\n")
            actual = sha256_file(target)
            if actual != e.member_sha256:
                raise ChecksumError(f"{e.name}: member {e.member}: sha256 mismatch: expected {e.member_sha256}, "
                                    f"actual {actual}")
            rec["member_sha256"] = actual
        if remove_archives and it.archive.is_file():
            ours = all(rec.get(k) == v for k, v in _stamp(it.archive).items())
            if ours:
                it.archive.unlink()
                out.write(f"data get: removed {e.name} (unpacked and verified; --remove-archives)\n")
    if e.role == "kb":
        target = _kb_store(target, it.archive.parent / KB_STORE, task, out)
    return target


def _kb_store(source: Path, store: Path, task: str, out: TextIO) -> Path:
    """The KB store built from ``source`` (kept when it was built from the same file)."""
    import json

    from ..kb.store import is_store

    meta_path = store / "meta.json"
    if is_store(store) and meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        src = meta.get("source") or {}
        if src.get("size") == source.stat().st_size and os.path.realpath(src.get("path", "")) == \
                os.path.realpath(source):
            return store
    from ..kb.build import build_store

    meta = build_store(str(source), str(store), task)
    out.write(f"data get: built KB store {store}: {meta['n_pages']:,} pages, {meta['n_passages']:,} passages\n")
    return store


def write_task_yaml(folder: Path, task: str, paths: dict[str, Path]) -> Path:
    """Merge the roles' task arguments into ``folder/task.yaml`` (relative paths; beside, then rename)."""
    import yaml

    path = folder / "task.yaml"
    data: dict[str, Any] = {}
    if path.is_file():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise HarnessError(f"{path}: not a mapping of task arguments; move it away")
    for role, target in paths.items():
        arg = ROLE_ARGS.get(role)
        if arg:
            data[arg] = os.path.relpath(target, folder)
    tmp = folder / f".task.yaml.{os.getpid()}.tmp"
    tmp.write_text(f"# {task} task arguments written by `reag-eval data get {task}` (paths relative to this "
                   "folder).\n# A run that names no data path reads this file; --task-args still win.\n"
                   + yaml.safe_dump(data, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def get_models(manifest: Manifest, out: TextIO, dry: bool) -> int:
    """Hub checkpoints through huggingface_hub (HF_ENDPOINT, HF_HOME / HF_HUB_CACHE honoured)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    for m in manifest.models:
        repo, revision = m["repo_id"], m.get("revision")
        try:
            path = snapshot_download(repo, revision=revision, local_files_only=True)
            out.write(f"model {repo}: in the hub cache at {path}\n")
            continue
        except (LocalEntryNotFoundError, OSError, ValueError):
            if dry:
                out.write(f"model {repo}: not in the hub cache; would download\n")
                continue
        out.write(f"model {repo}: downloading through huggingface_hub\n")
        try:
            path = snapshot_download(repo, revision=revision)
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
            offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0") else ""
            raise HarnessError(f"model {repo}: download failed{offline}: {type(exc).__name__}: {exc}") from exc
        out.write(f"model {repo}: {path}\n")
    return 0


def get(manifest: Manifest, dest: Path, roles: set[str] | None, *, dry: bool = False, remove_archives: bool = False,
        jobs: int = 4, out: TextIO | None = None, err: TextIO | None = None, interval_s: float = 30.0) -> int:
    from ...core.atomic import LockTimeout, exclusive_lock

    out, err = out or sys.stdout, err or sys.stderr
    want_models = roles is None or "models" in roles
    file_roles = None if roles is None else roles - {"models"}
    folder = dest / manifest.task
    if roles is not None and "models" in roles and not file_roles:
        return get_models(manifest, out, dry)
    lock = read_lock(folder)
    if dry:
        dry_run(manifest, folder, plan(manifest, folder, file_roles, lock, hash_ok=False), out)
        return get_models(manifest, out, True) if want_models and roles is not None else 0
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(folder / ".data_get.lock", timeout=2.0):
            code = _get_locked(manifest, folder, file_roles, lock, remove_archives, jobs, out, err, interval_s)
    except LockTimeout as exc:
        raise HarnessError(f"{folder}: another `reag-eval data get` is running there") from exc
    if roles is not None and want_models:
        code = get_models(manifest, out, False) or code
    elif manifest.models:
        out.write(f"data get: checkpoints are fetched with: reag-eval data get {manifest.task} --only models\n")
    return code


def _get_locked(manifest: Manifest, folder: Path, roles: set[str] | None, lock: dict[str, Any],
                remove_archives: bool, jobs: int, out: TextIO, err: TextIO, interval_s: float) -> int:
    items = plan(manifest, folder, roles, lock)
    write_lock(folder, lock)
    bad = [f"{it.entry.name}: present but {it.detail}; nothing was changed (move it away to download again)"
           for it in items if it.state == "mismatch"]
    if bad:
        raise HarnessError("; ".join(bad))
    need, free = needed_bytes(items), free_bytes(folder)
    if need > free:
        missing = ", ".join(f"{it.entry.name} ({human(it.entry.planned_size)})" for it in items
                            if it.state != "verified")
        raise HarnessError(f"not enough disk space in {folder}: {human(need)} needed ({missing}), {human(free)} "
                           "free; nothing was downloaded")
    todo = sum(it.state == "missing" for it in items)
    out.write(f"data get {manifest.task}: {len(items) - todo} of {len(items)} files in place, {todo} to download "
              f"({human(need)} of {human(free)} free)\n")
    errors = _download_all(items, lock, jobs, err, interval_s, folder)
    write_lock(folder, lock)
    paths: dict[str, Path] = {}
    for it in items:
        if it.state in ("unpack", "verified"):
            try:
                paths[it.entry.role] = _finish(it, lock, remove_archives, manifest.task, out)
            except HarnessError as exc:
                errors.append(str(exc))
            write_lock(folder, lock)
    if any(ROLE_ARGS.get(role) for role in paths):
        yaml_path = write_task_yaml(folder, manifest.task, paths)
        out.write(f"data get {manifest.task}: task arguments in {yaml_path}\n")
    if errors:
        raise HarnessError(f"data get {manifest.task}: {len(errors)} file(s) failed:\n  " + "\n  ".join(errors))
    out.write(f"data get {manifest.task}: all {len(items)} files in place and verified\n")
    return 0
