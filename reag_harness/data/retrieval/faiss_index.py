"""FAISS indexes in the released ReAG layout: ``knn.index`` + ``knn.json``.

``knn.json`` is a JSON list whose element ``i`` describes row ``i`` of ``knn.index``: a list
with the KB key (a Wikipedia URL) first (a bare string is accepted too). Indexes built here add
``knn.meta.json`` (encoder identity, source, factory); the released ones have none.

Indexes are memory-mapped when FAISS can (``IO_FLAG_MMAP_IFC``), moved to GPU FAISS when
it has GPUs and the device is CUDA, and loaded (keys included) once per process.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from reag_harness.core.errors import HarnessError, InputError

INDEX_FILE = "knn.index"
KEYS_FILE = "knn.json"
META_FILE = "knn.meta.json"
# FAISS uses BLAS (multi-threaded) from this many queries on; its default in this build is
# 128000, which makes batches of 64 queries ~6x slower than with BLAS on a flat index.
BLAS_THRESHOLD = 4

_INDEXES: dict[tuple[Any, ...], FaissIndex] = {}
_KEYS: dict[tuple[Any, ...], list[str]] = {}
_LOCK = threading.Lock()

Hit = tuple[str, float]


def _faiss() -> Any:
    import faiss

    faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD
    return faiss


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def index_files(folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(knn.index, knn.json)`` of an index folder; a clear error when one is missing."""
    folder = Path(folder).expanduser()
    index_path, keys_path = folder / INDEX_FILE, folder / KEYS_FILE
    for p in (index_path, keys_path):
        if not p.is_file():
            raise InputError(str(p), f"index file not found (an index folder holds {INDEX_FILE} and {KEYS_FILE})")
    return index_path, keys_path


def index_identity(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The index's identity: its folder and a hash of both files' sizes and mtimes."""
    index_path, keys_path = index_files(folder)
    h = hashlib.sha256()
    for p in (index_path, keys_path):
        _, size, mtime = _stat_key(p)
        h.update(f"{p.name}:{size}:{mtime}\n".encode())
    return {"path": str(Path(folder).expanduser().resolve()), "stat_hash": h.hexdigest()[:16],
            "size": index_path.stat().st_size}


def load_keys(path: str | os.PathLike[str]) -> list[str]:
    """Row -> KB key from ``knn.json`` (element i: a list with the key first), once per process."""
    path = Path(path)
    skey = _stat_key(path)
    with _LOCK:
        keys = _KEYS.get(skey)
    if keys is not None:
        return keys
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON: {exc.msg}", line=exc.lineno) from exc
    if not isinstance(rows, list):
        raise InputError(str(path), "must be a JSON list (element i: [key, ...] for index row i)")
    keys = []
    for i, row in enumerate(rows):
        key = row[0] if isinstance(row, list) and row else row
        if not isinstance(key, str):
            raise InputError(str(path), f"element {i} has no key: expected [key, ...] or a string, got {row!r:.80}")
        keys.append(key)
    with _LOCK:
        _KEYS[skey] = keys
    return keys


@dataclass
class FaissIndex:
    """A loaded index plus its row -> key mapping."""

    folder: Path
    index: Any
    keys: list[str]
    info: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    gpu_resources: Any = None  # keeps GPU FAISS resources alive while the index is used

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def identity(self) -> dict[str, Any]:
        return index_identity(self.folder)

    def search_raw(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS ``search`` on float32 rows: ``(scores, rows)``, both ``[n, k]``."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise HarnessError(f"index {self.folder} has dimension {self.dim}; queries have shape {queries.shape} "
                               "(was the index built with another encoder?)")
        k = max(1, min(int(k), self.ntotal))
        if len(queries) == 0:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        return self.index.search(queries, k)

    def search(self, queries: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-``k`` rows for every query in one batched call, as ``(key, score)`` lists."""
        scores, rows = self.search_raw(queries, k)
        keys = self.keys
        return [
            [(keys[r], float(s)) for s, r in zip(srow.tolist(), rrow.tolist(), strict=True) if r >= 0]
            for srow, rrow in zip(scores, rows, strict=True)
        ]


def _read_index(index_path: Path, mmap: bool) -> tuple[Any, dict[str, Any]]:
    faiss = _faiss()
    if mmap:
        try:
            return faiss.read_index(str(index_path), faiss.IO_FLAG_MMAP_IFC), {"mmap": True}
        except (RuntimeError, AttributeError) as exc:  # index types (or builds) without mmap support
            index = faiss.read_index(str(index_path))
            return index, {"mmap": False, "mmap_fallback": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    return faiss.read_index(str(index_path)), {"mmap": False}


def load_index(folder: str | os.PathLike[str], device: str = "cpu", mmap: bool = True) -> FaissIndex:
    """Load an index folder (once per process for a given file state and device)."""
    index_path, keys_path = index_files(folder)
    key = (_stat_key(index_path), _stat_key(keys_path), device, mmap)
    with _LOCK:
        cached = _INDEXES.get(key)
    if cached is not None:
        return cached
    faiss = _faiss()
    index, info = _read_index(index_path, mmap)
    info["type"] = type(index).__name__
    info["metric"] = "inner_product" if index.metric_type == faiss.METRIC_INNER_PRODUCT else "l2"
    info["gpu"] = False
    res = None
    if device.startswith("cuda") and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        gpu_id = int(device.split(":")[1]) if ":" in device else 0
        try:
            res = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(res, gpu_id, index)
            info.update(gpu=True, gpu_id=gpu_id)
        except Exception as exc:  # noqa: BLE001 - an index type without GPU support stays on CPU
            info["gpu_fallback"] = str(exc).splitlines()[0][:200]
    keys = load_keys(keys_path)
    if len(keys) != index.ntotal:
        raise InputError(str(keys_path), f"has {len(keys)} rows but {index_path.name} has {index.ntotal}")
    meta_path = Path(folder).expanduser() / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    loaded = FaissIndex(Path(folder).expanduser(), index, keys, info, meta, gpu_resources=res)
    with _LOCK:
        _INDEXES[key] = loaded
    return loaded


def build_index(
    vectors: np.ndarray,
    rows: Sequence[str | Sequence[Any]],
    out_dir: str | os.PathLike[str],
    factory: str = "Flat",
    metric: str = "inner_product",
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``knn.index`` + ``knn.json`` (+ ``knn.meta.json``) for ``vectors`` (one row per vector).

    ``rows[i]`` is the KB key of vector ``i`` or a list ``[key, ...extra]``; the JSON keeps the
    released layout ``[[key, ...], ...]``. Vectors are stored as given (L2-normalise them for
    cosine). Files are written to temporary names and renamed, so readers never see half a file.
    """
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(rows):
        raise HarnessError(f"build_index: {len(rows)} keys for vectors of shape {vectors.shape}")
    metrics = {"inner_product": faiss.METRIC_INNER_PRODUCT, "ip": faiss.METRIC_INNER_PRODUCT, "l2": faiss.METRIC_L2}
    if metric not in metrics:
        raise HarnessError(f"unknown metric {metric!r}: use inner_product or l2")
    try:
        index = faiss.index_factory(vectors.shape[1], factory, metrics[metric])
    except RuntimeError as exc:
        raise HarnessError(f"bad FAISS factory string {factory!r}: {str(exc).splitlines()[0]}") from exc
    if not index.is_trained:
        index.train(vectors)
    index.add(vectors)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    json_rows = [[r] if isinstance(r, str) else list(r) for r in rows]
    tmp = f".{os.getpid()}.tmp"
    faiss.write_index(index, str(out / (INDEX_FILE + tmp)))
    (out / (KEYS_FILE + tmp)).write_text(json.dumps(json_rows, ensure_ascii=False), encoding="utf-8")
    full_meta = {"factory": factory, "metric": metric, "dim": int(vectors.shape[1]), "rows": len(rows),
                 **(meta or {})}
    (out / (META_FILE + tmp)).write_text(json.dumps(full_meta, indent=1, default=str), encoding="utf-8")
    for name in (INDEX_FILE, KEYS_FILE, META_FILE):
        os.replace(out / (name + tmp), out / name)
    return out
