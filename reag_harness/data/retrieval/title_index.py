"""The demo's title index: a FAISS index over a KB's page titles (text tower), built once and cached on disk."""

from __future__ import annotations

from typing import Any, Callable

from ...core.errors import InputError
from ...core.paths import cache_dir
from ...interfaces import KnowledgeBase
from ...models.clip_encoders import ClipEncoder
from .cache_keys import digest, kb_fingerprint
from .faiss_index import FaissIndex, build_index, index_files, load_index

TITLE_INDEX_VERSION = "titles-v1"
TITLES_INDEX = "titles"  # index=titles: built on first use over the KB's page titles (demo, tests)


def build_title_index(kb: KnowledgeBase, *, name: str, encoder_identity: dict[str, Any],
                      encoder: Callable[[], ClipEncoder], batch_size: int, device: str, mmap: bool) -> FaissIndex:
    """The index of ``kb``'s page titles encoded by ``encoder()`` (loaded only to build), cached under
    ``cache_dir()/indexes/<name>-titles-<key>`` keyed by the KB fingerprint and ``encoder_identity``."""
    from filelock import FileLock

    key = digest([TITLE_INDEX_VERSION, kb_fingerprint(kb), encoder_identity])
    folder = cache_dir() / "indexes" / f"{name}-titles-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".build.lock")):
        try:
            index_files(folder)
        except InputError:
            from reag_harness.core.atomic import remove_leftovers

            remove_leftovers(folder, "*.tmp")  # half-written files of a killed build
            keys = list(kb.keys())
            vectors = encoder().encode_texts([kb.title(k) or k for k in keys], batch_size)
            build_index(vectors, keys, folder, factory="Flat",
                        meta={"source": "titles", "encoder": encoder_identity, "kb_fingerprint": kb_fingerprint(kb)})
    return load_index(folder, device, mmap)
