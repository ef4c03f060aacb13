"""Query-image embeddings, encoded in batches and kept in memory (LRU) per encoder, image file and crop box."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from ...core.errors import InputError
from ...models.clip_encoders import ClipEncoder, open_images
from .page_hits import jsonable

EMBED_CACHE_MAX = 200_000  # query embeddings kept in memory (LRU)

_EMBEDS: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
_EMBED_LOCK = threading.Lock()


def clear_embedding_cache() -> None:
    """Forget the query embeddings kept in memory (benchmarks compare cold runs)."""
    with _EMBED_LOCK:
        _EMBEDS.clear()


def _cache_get(key: tuple[Any, ...]) -> np.ndarray | None:
    with _EMBED_LOCK:
        vec = _EMBEDS.get(key)
        if vec is not None:
            _EMBEDS.move_to_end(key)
        return vec


def _cache_put(key: tuple[Any, ...], vec: np.ndarray) -> None:
    with _EMBED_LOCK:
        _EMBEDS[key] = vec
        while len(_EMBEDS) > EMBED_CACHE_MAX:
            _EMBEDS.popitem(last=False)


def embed_image_files(enc: ClipEncoder, encoder_key: str, paths: Sequence[str], batch_size: int) -> np.ndarray:
    """Embeddings of image files (cached per file and ``encoder_key``); images loaded batch by batch, each
    file encoded once per call."""
    keys = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            raise InputError(str(p), "image file not found", field="image") from None
        keys.append((encoder_key, os.path.abspath(p), st.st_size, st.st_mtime_ns))
    out: list[np.ndarray | None] = [_cache_get(k) for k in keys]
    todo = [i for i, v in enumerate(out) if v is None]
    seen: dict[tuple[Any, ...], int] = {}
    unique = [i for i in todo if seen.setdefault(keys[i], i) == i]
    for start in range(0, len(unique), batch_size):
        chunk = unique[start : start + batch_size]
        vecs = enc.encode_images(open_images([paths[i] for i in chunk]), batch_size)
        for i, v in zip(chunk, vecs, strict=True):
            _cache_put(keys[i], v)
            out[i] = v
    for i in todo:
        if out[i] is None:
            out[i] = out[seen[keys[i]]]
    return np.stack(out) if out else np.zeros((0, enc.dim), np.float32)  # type: ignore[arg-type]


def embed_crops(enc: ClipEncoder, encoder_key: str, paths: Sequence[str], crops: Sequence[Any],
                batch_size: int) -> np.ndarray:
    """Embeddings of the crops (``.image``, ``.box``) of image files, cached per file, box and ``encoder_key``."""
    keys = []
    for p, c in zip(paths, crops, strict=True):
        st = os.stat(p)
        keys.append((encoder_key, "crop", os.path.abspath(p), st.st_size, st.st_mtime_ns, json.dumps(jsonable(c.box))))
    out: list[np.ndarray | None] = [_cache_get(k) for k in keys]
    todo = [i for i, v in enumerate(out) if v is None]
    if todo:
        vecs = enc.encode_images([crops[i].image for i in todo], batch_size)
        for i, v in zip(todo, vecs, strict=True):
            _cache_put(keys[i], v)
            out[i] = v
    return np.stack(out) if out else np.zeros((0, enc.dim), np.float32)  # type: ignore[arg-type]
