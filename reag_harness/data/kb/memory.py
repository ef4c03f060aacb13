"""A knowledge base held in memory: for small KBs (tests, the demo, a KB .json of a few pages)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence

from .passages import check_entry, page_passages, page_title


class InMemoryKB:
    """Pages from a ``{key: entry}`` dict; passages are computed on first use and cached.

    ``kind`` is "evqa" (passages = ``section_texts``) or "infoseek" (300-token sentence packs of
    ``wikipedia_content``); None guesses it from the first page.
    """

    def __init__(
        self, pages: Mapping[str, Mapping[str, Any]], kind: str | None = None, source: str = "<memory>"
    ) -> None:
        self._pages = dict(pages)
        self.source = source
        if kind is None:
            first = next(iter(self._pages.values()), {})
            kind = "infoseek" if isinstance(first, Mapping) and "wikipedia_content" in first else "evqa"
        self.kind = kind
        for key, entry in self._pages.items():
            problem = check_entry(kind, entry)
            if problem:
                from ...core.errors import InputError

                raise InputError(source, f"page {key!r}: {problem[1]}", field=problem[0])
        self._passages: dict[str, list[str]] = {}
        self._fingerprint: str | None = None

    @classmethod
    def from_json(cls, path: str, kind: str | None = None) -> InMemoryKB:
        """Load a (small) KB JSON file: one object keyed by Wikipedia URL."""
        from ...core.errors import InputError

        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from exc
        if not isinstance(data, dict):
            raise InputError(path, "a knowledge base must be one JSON object keyed by Wikipedia URL")
        return cls(data, kind=kind, source=path)

    def __contains__(self, key: object) -> bool:
        return key in self._pages

    def __len__(self) -> int:
        return len(self._pages)

    def keys(self) -> list[str]:
        return list(self._pages)

    def _entry(self, key: str) -> Mapping[str, Any]:
        try:
            return self._pages[key]
        except KeyError:
            raise KeyError(key) from None

    def title(self, key: str) -> str:
        return page_title(self._entry(key))

    def passages(self, key: str) -> list[str]:
        return list(self._page_passages(key))

    def passage(self, key: str, index: int) -> str:
        """``passages(key)[index]`` without copying the page."""
        return self._page_passages(key)[index]

    def _page_passages(self, key: str) -> Sequence[str]:
        if key not in self._passages:
            self._passages[key] = page_passages(self.kind, self._entry(key))
        return self._passages[key]

    def page(self, key: str) -> dict[str, Any]:
        """The stored fields of a page (a copy)."""
        return dict(self._entry(key))

    def fingerprint(self) -> str:
        """A hash of the kind and the full content (computed once)."""
        if self._fingerprint is None:
            h = hashlib.sha256(f"inmemory-kb:{self.kind}:".encode())
            h.update(json.dumps(self._pages, sort_keys=True, ensure_ascii=False).encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint
