"""Image retrieval's page hits: full-image and crop hits merged per page, and pages turned into a Retrieval."""

from __future__ import annotations

from itertools import chain
from typing import Any, Iterable

from ...interfaces import KnowledgeBase
from ...records import Passage, Retrieval

Hit = tuple[str, float]


def merge_hits(full: Iterable[Hit], crop: Iterable[Hit] = (), top_k: int | None = None) -> list[Hit]:
    """Merge hit lists into page -> max score, sorted by score (desc), first ``top_k`` pages.

    Ties keep first-seen order (full image first, then crop). ``merge_hits(hits)`` is plain
    de-duplication keeping each page's best score.
    """
    best: dict[str, float] = {}
    for key, score in chain(full, crop):
        if key not in best or score > best[key]:
            best[key] = float(score)
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    return ranked if top_k is None else ranked[: max(0, int(top_k))]


def page_retrieval(sample_id: str, pages: list[Hit], raw: list[Hit], info: dict[str, Any],
                   kb: KnowledgeBase) -> Retrieval:
    """Every passage of ``pages`` in page order; pages not in the KB are listed in ``info["not_in_kb"]``."""
    passages: list[Passage] = []
    missing = []
    for key, _ in pages:
        if key not in kb:
            missing.append(key)
            continue
        passages.extend(Passage(key, j, text) for j, text in enumerate(kb.passages(key)))
    if missing:
        info["not_in_kb"] = missing
    return Retrieval(sample_id=sample_id, pages=tuple(pages), passages=tuple(passages), raw_hits=tuple(raw),
                     info=info)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (arrays by ``tolist``, anything else by ``str``)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)
