"""The stage store: per-sample records under a fingerprint of what determines them.

One mechanism gives the cache, resume after a kill, sharding and merging:
``<root>/<stage>/<fingerprint>/`` holds append-only ``part-*.jsonl`` files (one per
writing process, so concurrent shards never interleave), each line
``{"key": ..., "check": ..., "record": {...}}``. A line cut short by ``kill -9`` is
ignored on read; a record whose ``check`` no longer matches its input is recomputed.
Opening a store indexes where each key's line is (:mod:`.store_index`); records are read
from disk when looked up, so memory does not grow with the store.

The store proves what is its own: the root holds a marker file (:data:`MARKER`) and every
fingerprint folder a ``meta.json`` naming its stage and fingerprint. ``cache clear`` removes
only such folders under the known stage names and refuses anything else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from json.encoder import encode_basestring_ascii as _enc
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..core.errors import HarnessError
from .store_index import PAIRS_SUFFIX, PartIndex, owner

STAGES = ("retrieve", "judge", "generate")
MARKER = ".reag-harness-stage-cache"
_FP_CHARS = set("0123456789abcdef")


# One encoder each, made once: ``json.dumps`` with options builds a new encoder per call (same text).
_FP_JSON = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":")).encode
_LINE_JSON = json.JSONEncoder(default=str).encode


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-able parts (dict keys sorted)."""
    blob = _FP_JSON(parts)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def store_line(key: str, check: str, record: Any) -> str:
    """One store line; a critic pair's ``{"p_yes": float}`` (~175 per question) is formatted directly."""
    if type(record) is dict and len(record) == 1 and type(record.get("p_yes")) is float:
        value = repr(record["p_yes"])
        if "n" not in value and type(key) is str and type(check) is str:  # not nan / inf
            return f'{{"key": {_enc(key)}, "check": {_enc(check)}, "record": {{"p_yes": {value}}}}}\n'
    return _LINE_JSON({"key": key, "check": check, "record": record}) + "\n"


def p_yes_lines(keys: Sequence[str], checks: Sequence[str], values: Sequence[float]) -> str:
    """``store_line(key, check, {"p_yes": value})`` of each, joined (the same text), formatted in one pass."""
    reprs = list(map(repr, values))
    if (set(map(type, values)) <= {float} and set(map(type, keys)) <= {str} and set(map(type, checks)) <= {str}
            and not any("n" in r for r in reprs)):
        return "".join([f'{{"key": {_enc(k)}, "check": {_enc(c)}, "record": {{"p_yes": {r}}}}}\n'
                        for k, c, r in zip(keys, checks, reprs)])
    return "".join([store_line(k, c, {"p_yes": v}) for k, c, v in zip(keys, checks, values)])


def part_order(part: Path) -> tuple[int, str]:
    """Read order of part files: by last write, then name, so the newest record of a key wins."""
    return part.stat().st_mtime_ns, part.name


class StageStore:
    """Records of one stage under one fingerprint; ``enabled=False`` keeps nothing on disk."""

    def __init__(self, root: Path, stage: str, fp: str, describe: Mapping[str, Any] | None = None,
                 enabled: bool = True) -> None:
        self.dir = Path(root) / stage / fp
        self.enabled = enabled
        self._index = PartIndex()
        self._items: PartIndex | None = None
        self._items_all = False
        self._old_layout: bool | None = None
        self._stale: set[str] = set()
        self._part: Path | None = None
        if not enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        write_marker(Path(root))
        meta = self.dir / "meta.json"
        if not meta.exists():
            tmp = meta.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"stage": stage, "fingerprint": fp, **(describe or {})}, indent=1, default=str))
            os.replace(tmp, meta)
        # oldest file first, lines in order: the newest record of a key wins
        for part in sorted(self.dir.glob("part-*.jsonl"), key=part_order):
            if not part.name.endswith(PAIRS_SUFFIX):
                self._index.add_file(part)

    def get(self, key: str, check: str, floats_as_text: bool = False,
            also: Callable[[], str] | None = None) -> dict[str, Any] | None:
        """The record stored under ``key`` when its check matches (read from disk, decoded once).

        ``floats_as_text``: numbers with a fraction or exponent come back as the text the store holds
        (written by ``repr``, so ``float(text)`` is the value and the text its ``repr``).
        ``also``: the check of an older layout, made only when ``check`` does not match."""
        line = self._index.read(key, floats_as_text)
        if line is None and self.enabled and "#" in key and key not in self._index:
            line = self._item_index(owner(key)).read(key, floats_as_text)
        if line is not None and line.get("check") != check and (also is None or line.get("check") != also()):
            self._stale.add(key)  # its per-item records, if any, are wanted after all
            return None
        return line["record"] if line is not None else None

    def may_hold_items(self, owner_key: str) -> bool:
        """False when no per-item record of ``owner_key`` can be stored (its lookups can be skipped)."""
        if not self.enabled:
            return False
        if self._old_layout is None:  # per-item keys among the whole records: a store from before the split
            self._old_layout = any("#" in key for key in self._index.where)
        return self._old_layout or owner_key in self._item_index(owner_key).owners

    def _item_index(self, wanted: str) -> PartIndex:
        """Per-item records (``put_many(..., per_item=True)``), indexed once, on first use.

        Only those of owners without a whole record (a chunk cut short by a kill): memory stays
        small. Once a whole record is found stale (its check changed), every per-item record is
        indexed instead (read again once).
        """
        if self._items is None or (wanted in self._stale and not self._items_all):
            self._items, self._items_all = PartIndex(), bool(self._stale)
            whole = self._index
            keep = None if self._items_all else (lambda key: owner(key) not in whole)
            for part in sorted(self.dir.glob(f"part-*{PAIRS_SUFFIX}"), key=part_order):
                self._items.add_file(part, keep=keep)
        return self._items

    def put_many(self, items: Iterable[tuple[str, str, dict[str, Any]]], per_item: bool = False) -> None:
        """Append records (key, check, record) durably: one write and fsync per batch.

        ``per_item``: records of parts of a whole (``"<owner>#..."`` keys, e.g. one critic pair) kept
        in their own part file, read only for owners that have no whole record yet.
        """
        if not self.enabled:
            return
        self.put_text("".join(store_line(k, c, r) for k, c, r in items), per_item)

    def put_text(self, data: str, per_item: bool = False) -> None:
        """Append store lines already formatted (:func:`store_line`, :func:`p_yes_lines`); as :meth:`put_many`."""
        if not self.enabled or not data:
            return
        if self._part is None:
            self._part = self.dir / f"part-{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        path = self._part.with_name(self._part.name + (PAIRS_SUFFIX if per_item else ".jsonl"))
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def __len__(self) -> int:
        """Whole records found when the store was opened."""
        return len(self._index)


def list_stores(root: Path) -> list[dict[str, Any]]:
    """Every stored stage fingerprint with its record count and size."""
    out = []
    for meta in sorted(Path(root).glob("*/*/meta.json")):
        folder = meta.parent
        parts = list(folder.glob("part-*.jsonl"))
        n = sum(sum(1 for _ in open(p, "rb")) for p in parts)
        info = json.loads(meta.read_text())
        out.append({"stage": folder.parent.name, "fingerprint": folder.name, "records": n,
                    "bytes": sum(p.stat().st_size for p in parts), "describe": info, "path": str(folder)})
    return out


def write_marker(root: Path) -> None:
    """Mark ``root`` as a stage cache (the proof ``cache clear`` looks for)."""
    marker = root / MARKER
    if not marker.exists():
        marker.write_text(json.dumps({"format": "reag-harness-stage-cache", "version": 1,
                                      "stages": list(STAGES)}) + "\n")


def _own_folder(folder: Path, stage: str) -> bool:
    """A fingerprint folder the store wrote: hex name, its ``meta.json`` names it, only store files inside."""
    if folder.is_symlink() or not folder.is_dir() or not folder.name or set(folder.name) - _FP_CHARS:
        return False
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or meta.get("stage") != stage or meta.get("fingerprint") != folder.name:
        return False
    return all(p.is_file() and not p.is_symlink() and (p.name == "meta.json" or p.name.startswith("meta.tmp")
                                                      or (p.name.startswith("part-") and p.suffix == ".jsonl"))
               for p in folder.iterdir())


def plan_clear(root: Path, stage: str | None = None) -> tuple[list[Path], list[Path]]:
    """(folders ``cache clear`` would remove, entries it refuses to touch) under ``root``.

    Raises when ``root`` is not a stage cache at all (no marker and no folder the store wrote).
    """
    root = Path(root)
    if not root.is_dir():
        raise HarnessError(f"{root}: no stage cache here (not a folder)")
    remove: list[Path] = []
    refuse: list[Path] = []
    for name in [stage] if stage else STAGES:
        folder = root / name
        if not folder.exists():
            continue
        if folder.is_symlink() or not folder.is_dir():
            refuse.append(folder)
            continue
        for child in sorted(folder.iterdir()):
            (remove if _own_folder(child, name) else refuse).append(child)
    if not (root / MARKER).is_file() and not remove:
        hint = f"; did you mean {root / 'stages'}?" if (root / "stages" / MARKER).is_file() else ""
        raise HarnessError(f"{root}: not a reag-harness stage cache (no {MARKER} marker and no stage records); "
                           f"refusing to delete anything{hint}")
    return remove, refuse


def clear_stores(root: Path, stage: str | None = None) -> list[Path]:
    """Delete the stage-record folders the store can prove are its own; returns them.

    Anything else under ``root`` (unknown folders, files, symlinks, folders with foreign files)
    is left alone: see :func:`plan_clear`.
    """
    remove, _ = plan_clear(root, stage)
    for folder in remove:
        shutil.rmtree(folder)
    for name in [stage] if stage else STAGES:
        try:
            (Path(root) / name).rmdir()  # only when now empty
        except OSError:
            pass
    return remove
