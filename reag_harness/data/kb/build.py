"""Convert the published KB JSON into a memory-mapped store, streaming (never ``json.load``).

Memory stays at about one batch of pages plus 16 bytes per page for the index, so a KB larger
than RAM converts. Passages are computed here once (InfoSeek: spaCy sentence packing) and stored.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from array import array
from pathlib import Path
from typing import Any, Callable

from ...core.atomic import recover_folder, remove_stale, swap_folder, temp_tag
from ...core.errors import InputError
from .jsonstream import ObjectStream
from .passages import PASSAGE_METHOD, check_entry, infoseek_passages_many, page_text_field, page_title
from .store import META_FILE, PAGES_FILE, STORE_FORMAT, STORE_VERSION, is_store, key_hash

# Fields kept only as columns; every other field of an entry (title too) goes to the JSON "extra" column.
_COLUMN_FIELDS = {"section_texts", "wikipedia_content"}


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("key", pa.string()),
            ("title", pa.string()),
            ("passages", pa.list_(pa.string())),
            ("text", pa.large_string()),
            ("extra", pa.string()),
        ]
    )


def _fingerprint(kind: str, sha256: str) -> str:
    import hashlib

    blob = json.dumps(
        {"format": STORE_FORMAT, "version": STORE_VERSION, "kind": kind, "source_sha256": sha256,
         "passages": PASSAGE_METHOD[kind]},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_store(
    input_path: str,
    output_dir: str,
    kind: str,
    batch_pages: int = 2048,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Build a store from the KB JSON at ``input_path`` into ``output_dir``; returns its metadata.

    The store is written to a temporary sibling folder and swapped in at the end (the old store is
    moved aside, the new one renamed in, the old one removed), so a killed rebuild leaves the old
    store usable; the next build or open puts it back if the kill fell between the two renames, and
    removes build folders left by killed builds. An existing store at ``output_dir`` is replaced;
    any other existing non-empty folder is refused.
    """
    import numpy as np
    import pyarrow as pa

    page_text_field(kind)  # validates kind
    if not os.path.isfile(input_path):
        raise InputError(input_path, "knowledge-base JSON not found")
    out = Path(output_dir)
    recover_folder(out)
    remove_stale(out.parent, f".{out.name}.building-*")
    if out.exists() and not (out.is_dir() and (is_store(out) or not any(out.iterdir()))):
        raise InputError(str(out), "output exists and is not a knowledge-base store; choose another folder")
    tmp = out.parent / f".{out.name}.building-{temp_tag()}"
    tmp.mkdir(parents=True)
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    stat = os.stat(input_path)
    stream = ObjectStream(input_path)
    hashes = array("Q")
    offsets = [0]
    n_empty = n_passages = 0
    try:
        with pa.OSFile(str(tmp / PAGES_FILE), "wb") as sink, pa.ipc.new_file(sink, _schema()) as writer:
            pending: list[tuple[str, dict[str, Any]]] = []

            def flush() -> None:
                nonlocal n_empty, n_passages
                if not pending:
                    return
                if kind == "evqa":
                    passages = [list(e["section_texts"]) for _, e in pending]
                else:
                    passages = list(infoseek_passages_many(e["wikipedia_content"] for _, e in pending))
                extras = []
                for _, e in pending:
                    rest = {k: v for k, v in e.items() if k not in _COLUMN_FIELDS}
                    extras.append(json.dumps(rest, ensure_ascii=False) if rest else None)
                n_empty += sum(1 for p in passages if not p)
                n_passages += sum(len(p) for p in passages)
                columns = [
                    pa.array([k for k, _ in pending], pa.string()),
                    pa.array([page_title(e) for _, e in pending], pa.string()),
                    pa.array(passages, pa.list_(pa.string())),
                    pa.array([e.get("wikipedia_content") if kind == "infoseek" else None for _, e in pending],
                             pa.large_string()),
                    pa.array(extras, pa.string()),
                ]
                writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=_schema()))
                offsets.append(offsets[-1] + len(pending))
                pending.clear()
                say(f"{offsets[-1]:,} pages ({stream.bytes_read / 2**20:,.0f} MiB read, "
                    f"{time.perf_counter() - t0:,.0f} s)")

            for key, entry, line in stream:
                problem = check_entry(kind, entry)
                if problem:
                    raise InputError(input_path, f"page {key!r}: {problem[1]}", line=line, field=problem[0])
                hashes.append(key_hash(key))
                pending.append((key, entry))
                if len(pending) >= batch_pages:
                    flush()
            flush()
        n = len(hashes)
        h = np.frombuffer(hashes, dtype=np.uint64) if n else np.zeros(0, dtype=np.uint64)
        _check_duplicates(h, tmp, input_path)
        n_buckets = 1 << max(0, (max(n, 1) - 1).bit_length())
        bucket = h & np.uint64(n_buckets - 1)
        order = np.argsort(bucket, kind="stable")
        starts = np.searchsorted(bucket[order], np.arange(n_buckets + 1, dtype=np.uint64)).astype(np.int64)
        np.save(tmp / "index.buckets.npy", starts)
        np.save(tmp / "index.hashes.npy", h[order])
        np.save(tmp / "index.rows.npy", order.astype(np.uint32 if n < 2**32 else np.int64))
        np.save(tmp / "batches.npy", np.asarray(offsets, dtype=np.int64))
        meta = {
            "format": STORE_FORMAT,
            "version": STORE_VERSION,
            "kind": kind,
            "n_pages": n,
            "n_empty_pages": n_empty,
            "n_passages": n_passages,
            "batch_pages": batch_pages,
            "passages": PASSAGE_METHOD[kind],
            "source": {"path": os.path.abspath(input_path), "size": stat.st_size, "mtime": stat.st_mtime,
                       "sha256": stream.digest},
            "fingerprint": _fingerprint(kind, stream.digest),
            "build_seconds": round(time.perf_counter() - t0, 2),
            "built_with": _versions(kind),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        swap_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _check_duplicates(h: Any, folder: Path, input_path: str) -> None:
    """Refuse a KB with a repeated key (``json.load`` would silently keep the last one)."""
    import numpy as np

    if len(h) < 2:
        return
    s = np.sort(h)
    dup = np.unique(s[1:][s[1:] == s[:-1]])
    if not len(dup):
        return
    import pyarrow as pa

    with pa.memory_map(str(folder / PAGES_FILE), "r") as src:
        keys = pa.ipc.open_file(src).read_all().column("key")
        for value in dup[:1000]:
            rows = np.nonzero(h == value)[0]
            seen: set[str] = set()
            for r in rows:
                k = keys[int(r)].as_py()
                if k in seen:
                    raise InputError(input_path, f"key {k!r} appears more than once (json.load would keep the last)")
                seen.add(k)


def _versions(kind: str) -> dict[str, str | None]:
    import pyarrow as pa

    out: dict[str, str | None] = {"pyarrow": pa.__version__, "python": sys.version.split()[0]}
    if kind == "infoseek":
        import spacy

        out["spacy"] = spacy.__version__
    return out
