"""The memory-mapped knowledge-base store written by ``reag-eval kb build``.

A store is a folder::

    meta.json          kind, page count, source file identity, passage method, fingerprint
    pages.arrow        Arrow IPC file (uncompressed record batches): key, title, passages, text, extra
    index.buckets.npy  CSR hash index: bucket b holds slots starts[b]:starts[b+1]
    index.hashes.npy   64-bit key hash of each slot (grouped by bucket)
    index.rows.npy     row of each slot
    batches.npy        first row of each record batch (+ the total)

Opening memory-maps the Arrow file and the index arrays: nothing is read until used, so opening
takes milliseconds and a few MB whatever the KB size. A lookup hashes the key (blake2b, 8 bytes),
scans its bucket (about one slot; the table has at least as many buckets as pages) and checks the
stored key: O(1), zero-copy.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

STORE_FORMAT = "reag-kb-store"
STORE_VERSION = 1
PAGES_FILE = "pages.arrow"
META_FILE = "meta.json"


def key_hash(key: str) -> int:
    """The 64-bit hash of a key used by the index (stable across processes and platforms)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def is_store(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder holding a built store."""
    meta = Path(path) / META_FILE
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("format") == STORE_FORMAT
    except (OSError, ValueError):
        return False


class _Keys(Sequence[str]):
    """The store's keys in row order, read lazily from the memory map."""

    def __init__(self, store: KBStore) -> None:
        self._store = store

    def __len__(self) -> int:
        return len(self._store)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._store._key_at(j) for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._store._key_at(i)

    def __iter__(self) -> Iterator[str]:
        for b in range(self._store._n_batches):
            yield from self._store._batch(b).column(0).to_pylist()

    def __contains__(self, key: object) -> bool:
        return key in self._store


class KBStore:
    """A built knowledge base, memory-mapped (implements the KnowledgeBase protocol)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import numpy as np
        import pyarrow as pa

        from ...core.errors import InputError

        self.path = Path(path)
        meta_path = self.path / META_FILE
        if not meta_path.is_file():
            raise InputError(str(self.path), "not a knowledge-base store (no meta.json): run 'reag-eval kb build'")
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        except ValueError as exc:
            raise InputError(str(meta_path), f"unreadable store metadata: {exc}") from exc
        if self.meta.get("format") != STORE_FORMAT:
            raise InputError(str(meta_path), f"not a {STORE_FORMAT} folder", field="format")
        if self.meta.get("version") != STORE_VERSION:
            raise InputError(
                str(meta_path),
                f"store version {self.meta.get('version')} but this harness reads version {STORE_VERSION}: rebuild it",
                field="version",
            )
        self.kind: str = self.meta["kind"]
        self._n = int(self.meta["n_pages"])
        # A plain mmap with MADV_RANDOM, not pa.memory_map: Arrow's memory-mapped reads advise
        # WILLNEED on whole record batches, which pages in ~14 MB per lookup on a cold cache.
        with open(self.path / PAGES_FILE, "rb") as f:
            self._mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(self._mmap, "madvise") and hasattr(mmap, "MADV_RANDOM"):
            self._mmap.madvise(mmap.MADV_RANDOM)
        self._reader = pa.ipc.open_file(pa.BufferReader(pa.py_buffer(self._mmap)))
        self._n_batches = self._reader.num_record_batches
        self._batches: dict[int, Any] = {}
        self._offsets = np.load(self.path / "batches.npy", mmap_mode="r")
        self._starts = np.load(self.path / "index.buckets.npy", mmap_mode="r")
        self._hashes = np.load(self.path / "index.hashes.npy", mmap_mode="r")
        self._rows = np.load(self.path / "index.rows.npy", mmap_mode="r")
        self._mask = len(self._starts) - 2  # buckets are a power of two; starts has one more entry

    # -- rows ------------------------------------------------------------------------------------
    def _batch(self, b: int) -> Any:
        batch = self._batches.get(b)
        if batch is None:
            batch = self._batches[b] = self._reader.get_batch(b)
        return batch

    def _locate(self, row: int) -> tuple[Any, int]:
        import numpy as np

        b = int(np.searchsorted(self._offsets, row, side="right")) - 1
        return self._batch(b), row - int(self._offsets[b])

    def _key_at(self, row: int) -> str:
        batch, i = self._locate(row)
        return batch.column(0)[i].as_py()

    def row_of(self, key: str) -> int | None:
        """The row of ``key``, or None."""
        if not isinstance(key, str) or self._n == 0:
            return None
        h = key_hash(key)
        b = h & self._mask
        start, end = int(self._starts[b]), int(self._starts[b + 1])
        for slot in range(start, end):
            if int(self._hashes[slot]) == h:
                row = int(self._rows[slot])
                if self._key_at(row) == key:
                    return row
        return None

    def _row(self, key: str) -> int:
        row = self.row_of(key)
        if row is None:
            raise KeyError(key)
        return row

    def _field(self, key: str, column: int) -> Any:
        batch, i = self._locate(self._row(key))
        return batch.column(column)[i].as_py()

    # -- KnowledgeBase protocol -------------------------------------------------------------------
    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.row_of(key) is not None

    def __len__(self) -> int:
        return self._n

    def keys(self) -> Sequence[str]:
        """The keys in file order, as a lazy sequence (not materialised)."""
        return _Keys(self)

    def title(self, key: str) -> str:
        return self._field(key, 1) or ""

    def passages(self, key: str) -> list[str]:
        """The passages stored at build time (EVQA sections; InfoSeek 300-token packs)."""
        return self._field(key, 2) or []

    def passage(self, key: str, index: int) -> str:
        """``passages(key)[index]``, only that text read from the memory map."""
        batch, i = self._locate(self._row(key))
        values = batch.column(2)[i].values
        if values is None:  # a page without passages
            return [][index]  # type: ignore[no-any-return]
        return str(values[range(len(values))[index]].as_py())

    def page(self, key: str) -> dict[str, Any]:
        """Every stored field of the page, in the published KB's shape."""
        batch, i = self._locate(self._row(key))
        entry: dict[str, Any] = json.loads(batch.column(4)[i].as_py() or "{}")
        if self.kind == "evqa":
            entry["section_texts"] = batch.column(2)[i].as_py() or []
        else:
            entry["wikipedia_content"] = batch.column(3)[i].as_py() or ""
        return entry

    def fingerprint(self) -> str:
        return str(self.meta["fingerprint"])

    def __repr__(self) -> str:
        return f"KBStore({str(self.path)!r}, kind={self.kind!r}, pages={self._n})"


def open_kb(path: str, kind: str | None = None) -> Any:
    """A KB from a built store folder (memory-mapped) or a small KB ``.json`` (in memory)."""
    from ...core.atomic import recover_folder
    from ...core.errors import InputError

    p = Path(path)
    recover_folder(p)  # a rebuild killed mid-swap left the previous store aside
    if p.is_dir():
        store = KBStore(p)
        if kind is not None and store.kind != kind:
            raise InputError(str(p), f"this store was built for '{store.kind}', not '{kind}'", field="kind")
        return store
    if p.is_file():
        from .memory import InMemoryKB

        return InMemoryKB.from_json(str(p), kind=kind)
    raise InputError(str(p), "knowledge base not found (a store folder from 'reag-eval kb build' or a KB .json)")
