"""EVQA Google Lens retrieval: the entities Google Lens found for each query image.

Reads ``lens_entities.csv`` of the EVQA release (columns ``dataset_image_id`` and
``lens_wiki_urls``, a Python list literal). As the ReAG reference: empty URLs are dropped, each URL
is quoted with ``urllib.parse.quote(url, safe=":/")``, the first ``top_k`` are kept, and of those
only the pages present in the KB contribute passages (all sections of each, in order). Pages get
the score ``1 / rank`` (Lens gives no score). The image id is the sample's first
``dataset_image_ids`` entry; an image with no Lens row retrieves nothing and says so in ``info``
(the reference crashes there).
"""

from __future__ import annotations

import ast
import csv
import os
import sys
import urllib.parse
from typing import Any, Sequence

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.interfaces import Component, KnowledgeBase, Runtime
from reag_harness.records import Passage, Retrieval, Sample


def load_lens(path: str) -> dict[str, list[str]]:
    """``dataset_image_id -> [url, ...]`` (raw, unquoted) from ``lens_entities.csv``."""
    if not os.path.isfile(path):
        raise InputError(path, "Google Lens file not found (lens_entities.csv of the EVQA release)")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    out: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for column in ("dataset_image_id", "lens_wiki_urls"):
            if column not in (reader.fieldnames or []):
                raise InputError(path, "column is missing from the header", line=1, field=column)
        start = reader.line_num + 1
        for row in reader:
            raw = row.get("lens_wiki_urls") or "[]"
            try:
                urls = ast.literal_eval(raw)
            except (ValueError, SyntaxError) as exc:
                raise InputError(path, f"not a list literal: {raw[:80]!r} ({exc})", line=start,
                                 field="lens_wiki_urls") from None
            if not isinstance(urls, (list, tuple)) or not all(isinstance(u, str) for u in urls):
                raise InputError(path, "must be a list of strings", line=start, field="lens_wiki_urls")
            image_id = str(row["dataset_image_id"]).strip()
            out.setdefault(image_id, list(urls))  # the reference takes the first matching row
            start = reader.line_num + 1
    return out


def quote_url(url: str) -> str:
    """The reference's quoting of a Lens URL into a KB key."""
    return urllib.parse.quote(url, safe=":/")


class GoogleLensRetriever(Component):
    """Pages from Google Lens entities (``lens=`` path, given by the evqa task's ``lens=`` argument)."""

    name = "google-lens"

    def __init__(self, runtime: Runtime, lens: str = "", top_k: int = 20, **args: Any) -> None:
        super().__init__(runtime, lens=lens, top_k=top_k, **args)
        if args:
            raise HarnessError(f"google-lens: unknown argument(s) {', '.join(sorted(args))} (known: lens, top_k)")
        if not lens:
            raise HarnessError("google-lens needs the lens_entities.csv path: --task-args lens=PATH "
                               "(or --retriever-args lens=PATH)")
        if int(top_k) < 1:
            raise HarnessError("google-lens: top_k must be >= 1")
        self.lens_path, self.top_k = str(lens), int(top_k)
        self._lens: dict[str, list[str]] | None = None

    def identity(self) -> dict[str, Any]:
        st = os.stat(self.lens_path) if os.path.isfile(self.lens_path) else None
        lens_id = {"size": st.st_size, "mtime": st.st_mtime} if st else None
        return {"name": self.name, "version": self.version, "args": {"top_k": self.top_k}, "lens_file": lens_id}

    def lens(self) -> dict[str, list[str]]:
        if self._lens is None:
            self._lens = load_lens(self.lens_path)
        return self._lens

    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]:
        table = self.lens()
        out = []
        for s in samples:
            ids = list(s.meta.get("dataset_image_ids") or [])
            if not ids:
                raise InputError(str(s.meta.get("source_file", "")), f"sample {s.id!r} has no image id for Google Lens",
                                 line=s.meta.get("source_line"), field="dataset_image_ids")
            image_id = str(ids[0])
            if image_id not in table:
                out.append(Retrieval(sample_id=s.id, info={"lens": f"no row for dataset_image_id {image_id}"}))
                continue
            urls = [quote_url(u) for u in table[image_id] if u != ""][: self.top_k]
            hits = tuple((u, 1.0 / (rank + 1)) for rank, u in enumerate(urls))
            first: dict[str, float] = {}
            for u, score in hits:
                if u in kb and u not in first:  # a repeated URL counts once (the reference would repeat it)
                    first[u] = score
            pages = tuple(first.items())
            passages = tuple(Passage(u, i, t) for u, _ in pages for i, t in enumerate(kb.passages(u)))
            missing = [u for u, _ in hits if u not in kb]
            out.append(Retrieval(sample_id=s.id, pages=pages, passages=passages, raw_hits=hits,
                                 info={"lens_image_id": image_id, "lens_urls": len(urls), "not_in_kb": missing}))
        return out
