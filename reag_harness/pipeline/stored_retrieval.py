"""A cached Retrieval read back from its stage-store record without making ~175 passage objects.

A fully cached run needs, per question, the passages' (page, index) references (for the judge
check and the row) and the texts of the ~17 kept ones (for the prompt and the run folder).
:class:`StoredRetrieval` holds the record's references; its ``passages`` tuple is made on first
use, and each passage reads its KB text on first use (:class:`KBPassage`). The hot path asks
through :func:`passage_count`, :func:`passage_runs` and :func:`passage_at`, which work on any
Retrieval. Equal to, and pickled as, the plain records.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from ..records import Passage, Retrieval


class KBPassage(Passage):
    """A passage whose text is the KB's, read on first use. Equal to, hashed and pickled as :class:`Passage`."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name != "text":
            raise AttributeError(name)
        d = self.__dict__
        text = d["text"] = d["_read"](d["page_key"], d["index"])
        del d["_read"]
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return Passage, (self.page_key, self.index, self.text)


class StoredRetrieval(Retrieval):
    """A Retrieval from a stored record: references in ``_runs`` (``[(page_key, [index, ...]), ...]``), the
    texts that are not the KB's in ``_inline``; ``passages`` made when first asked for."""

    __slots__ = ()

    @property  # type: ignore[override]
    def passages(self) -> tuple[Passage, ...]:
        d = self.__dict__
        ps = d.get("passages")
        if ps is None:
            made = d.get("_made", {})
            keys, indices = passage_refs(self)
            ps = d["passages"] = tuple(made.get(k) or _passage(d, key, i)
                                       for k, (key, i) in enumerate(zip(keys, indices)))
        return ps

    @passages.setter
    def passages(self, value: tuple[Passage, ...]) -> None:  # the dataclass __init__ (dataclasses.replace)
        self.__dict__["passages"] = tuple(value)

    def __reduce__(self) -> tuple[Any, ...]:
        return Retrieval, (self.sample_id, self.pages, self.passages, self.raw_hits, dict(self.info), self.used)


def _passage(d: Mapping[str, Any], key: str, index: int) -> Passage:
    text = d["_inline"].get((key, index))
    if text is not None:
        return Passage(key, index, text)
    p = object.__new__(KBPassage)
    object.__setattr__(p, "__dict__", {"page_key": key, "index": index, "_read": d["_read"]})
    return p


def passage_reader(kb: Any) -> Callable[[str, int], str]:
    """``read(key, index)``: the text of one KB passage.

    A KB that offers ``passage(key, index)`` beside ``passages(key)`` (defined by the same class, so a
    subclass that changes ``passages`` is never bypassed) gives the one text without the page;
    otherwise each page is read once (for one record).
    """
    owner = next((c for c in type(kb).__mro__ if "passages" in c.__dict__), None)
    if owner is not None and callable(owner.__dict__.get("passage")):
        return kb.passage  # type: ignore[no-any-return]
    pages: dict[str, Sequence[str]] = {}

    def read(key: str, index: int) -> str:
        got = pages.get(key)
        if got is None:
            got = pages[key] = kb.passages(key)
        return got[index]

    return read


def stored_retrieval(sample_id: str, pages: tuple[tuple[str, float], ...], raw_hits: tuple[tuple[str, float], ...],
                     info: dict[str, Any], used: bool, runs: list[tuple[str, list[int]]],
                     inline: dict[tuple[str, int], str], kb: Any) -> StoredRetrieval:
    """A :class:`StoredRetrieval` over ``runs`` (no passage object made yet)."""
    r = object.__new__(StoredRetrieval)
    object.__setattr__(r, "__dict__", {
        "sample_id": sample_id, "pages": pages, "raw_hits": raw_hits, "info": info, "used": used,
        "_runs": runs, "_inline": inline, "_read": passage_reader(kb),
        "_count": sum(len(indices) for _, indices in runs)})
    return r


def passage_count(r: Retrieval) -> int:
    """``len(r.passages)``, without making them for a stored Retrieval."""
    count = r.__dict__.get("_count")
    return len(r.passages) if count is None else count


def passage_runs(r: Retrieval) -> list[tuple[str, list[int]]]:
    """The passages' references as runs of one page: ``[(page_key, [index, ...]), ...]``, in order."""
    runs = r.__dict__.get("_runs")
    if runs is not None:
        return runs
    out: list[tuple[str, list[int]]] = []
    for p in r.passages:
        if not out or out[-1][0] != p.page_key:
            out.append((p.page_key, []))
        out[-1][1].append(p.index)
    return out


def passage_refs(r: Retrieval) -> tuple[list[str], list[int]]:
    """The passages' page keys and indices, in order (made once for a stored Retrieval)."""
    d = r.__dict__
    flat = d.get("_flat")
    if flat is None:
        keys: list[str] = []
        indices: list[int] = []
        for key, idx in passage_runs(r):
            keys += [key] * len(idx)
            indices += idx
        flat = (keys, indices)
        if "_runs" in d:
            d["_flat"] = flat
    return flat


def passage_at(r: Retrieval, position: int, read: bool = False) -> Passage:
    """``r.passages[position]``, made alone (once) for a stored Retrieval; ``read``: its text is wanted now
    (a kept passage, for the prompt), so it is read at once instead of on first use."""
    d = r.__dict__
    if "passages" in d or "_runs" not in d:
        return r.passages[position]
    made = d.setdefault("_made", {})
    p = made.get(position)
    if p is None:
        keys, indices = passage_refs(r)
        key, index = keys[position], indices[position]
        if read and (key, index) not in d["_inline"]:
            p = made[position] = Passage(key, index, d["_read"](key, index))
        else:
            p = made[position] = _passage(d, key, index)
    return p
