"""The stage store: per-sample records under a fingerprint of what determines them.

One mechanism gives the cache, resume after a kill, sharding and merging:
``<root>/<stage>/<fingerprint>/`` holds append-only ``part-*.jsonl`` files (one per
writing process, so concurrent shards never interleave), each line
``{"key": ..., "check": ..., "record": {...}}``. A line cut short by ``kill -9`` is
ignored on read; a record whose ``check`` no longer matches its input is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any, Iterable, Mapping


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-able parts (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def part_order(part: Path) -> tuple[int, str]:
    """Read order of part files: by last write, then name, so the newest record of a key wins."""
    return part.stat().st_mtime_ns, part.name


class StageStore:
    """Records of one stage under one fingerprint; ``enabled=False`` keeps nothing on disk."""

    def __init__(self, root: Path, stage: str, fp: str, describe: Mapping[str, Any] | None = None,
                 enabled: bool = True) -> None:
        self.dir = Path(root) / stage / fp
        self.enabled = enabled
        self._records: dict[str, tuple[str, dict[str, Any]]] = {}
        self._part: Path | None = None
        if not enabled:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if describe is not None and not meta.exists():
            tmp = meta.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"stage": stage, "fingerprint": fp, **describe}, indent=1, default=str))
            os.replace(tmp, meta)
        for part in sorted(self.dir.glob("part-*.jsonl"), key=part_order):
            self._read(part)  # oldest file first, lines in order: the newest record of a key wins

    def _read(self, part: Path) -> None:
        with open(part, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # cut short by a kill: the sample is recomputed
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                self._records[line["key"]] = (line["check"], line["record"])

    def get(self, key: str, check: str) -> dict[str, Any] | None:
        hit = self._records.get(key)
        return hit[1] if hit is not None and hit[0] == check else None

    def put_many(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Append records (key, check, record) durably: one write and fsync per batch."""
        items = list(items)
        for key, check, record in items:
            self._records[key] = (check, record)
        if not self.enabled or not items:
            return
        if self._part is None:
            self._part = self.dir / f"part-{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}.jsonl"
        data = "".join(json.dumps({"key": k, "check": c, "record": r}, default=str) + "\n" for k, c, r in items)
        with open(self._part, "a", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def __len__(self) -> int:
        return len(self._records)


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


def clear_stores(root: Path, stage: str | None = None) -> int:
    """Delete stored records (one stage, or all); returns the number of folders removed."""
    targets = [Path(root) / stage] if stage else [p for p in Path(root).glob("*") if p.is_dir()]
    n = 0
    for target in targets:
        if target.exists():
            n += sum(1 for _ in target.glob("*"))
            shutil.rmtree(target)
    return n
