"""The runner's hot path without per-passage dataclass round trips.

- :func:`sample_row` builds a ``samples.jsonl`` row (the layout of :class:`~reag_harness.results.run_results.SampleLog`,
  passages by reference) straight from the stage records: no ``PassageLog`` objects, no ``asdict``.
- :func:`retrieval_from_record` rebuilds a cached Retrieval, texts from the KB, once per page.
- :class:`RunLog` streams rows to disk and keeps only counts and small per-sample facts
  (score, answer), so memory follows the chunk, not the run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from json.encoder import encode_basestring_ascii as _enc
from operator import attrgetter
from typing import IO, Any, Mapping, Sequence

from ..records import Generation, Judgement, Passage, Retrieval, Sample
from ..results.retrieval_quality import RetrievalQuality
from .store import fingerprint


class KBPassage(Passage):
    """A cached Retrieval's passage whose text is the KB's, read on first use.

    A fully cached run needs the texts of the kept passages only (~17 of ~175 per question): the
    others are never read from the KB. Equal to, hashed and pickled as the plain :class:`Passage`.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name != "text":
            raise AttributeError(name)
        d = self.__dict__
        text = d["text"] = d["_pages"](d["page_key"])[d["index"]]
        del d["_pages"]
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return Passage, (self.page_key, self.index, self.text)


def _page_reader(kb: Any) -> Any:
    """``page(key)``: the KB's passages of a page, each page read once (for one record)."""
    pages: dict[str, list[str]] = {}

    def page(key: str) -> list[str]:
        got = pages.get(key)
        if got is None:
            got = pages[key] = kb.passages(key)
        return got

    return page


def retrieval_from_record(data: Mapping[str, Any], kb: Any) -> tuple[Retrieval, frozenset[tuple[str, int]]]:
    """A stored Retrieval record back as a Retrieval, blank passages dropped (:func:`drop_blank`), and the
    (page, index) of texts stored inline (not the KB's).

    Reads both layouts: ``passage_runs`` (``[[page_key, [index, ...], {index: text}?], ...]``, one run
    per stretch of passages of one page; the texts only where they are not the KB's) and the older
    ``passages`` list of ``{"page_key", "index", "text"?}``. The KB's texts are read when first used
    (:class:`KBPassage`); a record that lists its ``blank`` passages needs none read to drop them.
    """
    passages: list[Passage] = []
    inline: list[tuple[str, int]] = []
    runs = data.get("passage_runs")
    if runs is None:
        runs = [[p["page_key"], [p["index"]]] + ([{str(p["index"]): p["text"]}] if "text" in p else [])
                for p in data.get("passages", ())]
    page = _page_reader(kb)
    new, setattr_ = object.__new__, object.__setattr__
    for run in runs:
        key, indices = str(run[0]), run[1]
        texts = run[2] if len(run) > 2 else None
        if texts:
            inline += [(key, int(i)) for i in texts]
            for i in indices:
                text = texts.get(str(i))
                if text is None:
                    p = new(KBPassage)
                    setattr_(p, "__dict__", {"page_key": key, "index": i, "_pages": page})
                else:
                    p = Passage(key, i, text)
                passages.append(p)
        else:
            for i in indices:
                p = new(KBPassage)
                setattr_(p, "__dict__", {"page_key": key, "index": i, "_pages": page})
                passages.append(p)
    r = Retrieval(str(data["sample_id"]), tuple((str(k), float(s)) for k, s in data.get("pages", ())),
                  tuple(passages), tuple((str(k), float(s)) for k, s in data.get("raw_hits", ())),
                  dict(data.get("info", {})), bool(data.get("used", True)))
    return drop_blank(r, data.get("blank")), frozenset(inline)


def drop_blank(r: Retrieval, blank: Sequence[int] | None = None) -> Retrieval:
    """Drop passages that are empty or whitespace only (indices kept): a page of blank sections is like ``[]``.

    ``blank``: their positions when known (a stored record's), else each text is looked at.
    """
    if blank is None:
        kept = tuple(p for p in r.passages if p.text.strip())
    elif not blank:
        return r
    else:
        skip = set(blank)
        kept = tuple(p for k, p in enumerate(r.passages) if k not in skip)
    if len(kept) == len(r.passages):
        return r
    return dataclasses.replace(r, passages=kept, info={**r.info, "blank_passages_dropped": len(r.passages) - len(kept)})


def retrieval_record(r: Retrieval, kb: Any) -> tuple[dict[str, Any], frozenset[tuple[str, int]]]:
    """A Retrieval's store record (``passage_runs``), texts left out where the KB holds the same; and those kept."""
    pages: dict[str, list[str]] = {}
    runs: list[list[Any]] = []
    inline = []
    for p in r.passages:
        page = pages.get(p.page_key)
        if page is None:
            page = pages[p.page_key] = list(kb.passages(p.page_key)) if p.page_key in kb else []
        if not runs or runs[-1][0] != p.page_key:
            runs.append([p.page_key, []])
        runs[-1][1].append(p.index)
        if not (0 <= p.index < len(page) and page[p.index] == p.text):
            if len(runs[-1]) == 2:
                runs[-1].append({})
            runs[-1][2][str(p.index)] = p.text
            inline.append((p.page_key, p.index))
    data = {"sample_id": r.sample_id, "pages": [list(x) for x in r.pages], "passage_runs": runs,
            "raw_hits": [list(x) for x in r.raw_hits], "info": dict(r.info), "used": r.used,
            "blank": [k for k, p in enumerate(r.passages) if not p.text.strip()]}
    return data, frozenset(inline)


def pair_fingerprint(sample_check: str, page_key: str, index: int, text: str) -> str:
    """``fingerprint(sample_check, page_key, index, text)`` (the stored pair check), built without ``json.dumps``.

    The same bytes as the generic encoder writes for two strings, an int and a string; ~10x faster
    for the critic's ~175 pairs per question.
    """
    blob = f"[{_enc(sample_check)},{_enc(page_key)},{int(index)},{_enc(text)}]"
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def pair_fingerprints(sample_check: str, passages: Sequence[Passage]) -> list[str]:
    """:func:`pair_fingerprint` of each passage (same values), the sample's and each page's JSON made once."""
    head = "[" + _enc(sample_check) + ","
    heads: dict[str, str] = {}
    sha = hashlib.sha256
    out = []
    for p in passages:
        key = p.page_key
        page = heads.get(key)
        if page is None:
            page = heads[key] = head + _enc(key) + ","
        out.append(sha(f"{page}{int(p.index)},{_enc(p.text)}]".encode()).hexdigest()[:20])
    return out


def judge_check(sample_check: str, r: Retrieval, inline: frozenset[tuple[str, int]]) -> str:
    """What a whole-sample Judgement must match: the sample and exactly these passages.

    Passages are named by (page, index); a text is hashed only when it is not the KB's (``inline``):
    the judge store's fingerprint covers the KB's, so hashing every text again (~60 MB per 1,000
    questions) bought nothing. A stored Judgement from before this check is rebuilt from its pairs.
    """
    if not inline and type(sample_check) is str:
        blob = _judge_blob(sample_check, r.passages)
        if blob is not None:
            return hashlib.sha256(blob.encode()).hexdigest()[:20]
    refs = [[p.page_key, p.index] for p in r.passages]
    texts = [[p.page_key, p.index, p.text] for p in r.passages if (p.page_key, p.index) in inline] if inline else []
    return fingerprint("judge-check-2", sample_check, refs, texts)


def _judge_blob(sample_check: str, passages: Sequence[Passage]) -> str | None:
    """The text ``fingerprint("judge-check-2", sample_check, refs, [])`` hashes, built directly; None when unusual."""
    heads: dict[str, str] = {}
    parts = []
    for p in passages:
        key, index = p.page_key, p.index
        head = heads.get(key)
        if head is None:
            if type(key) is not str:
                return None
            head = heads[key] = "[" + _enc(key) + ","
        if type(index) is not int:
            return None
        parts.append(f"{head}{index}]")
    return f'["judge-check-2",{_enc(sample_check)},[{",".join(parts)}],[]]'


_KEY, _INDEX = attrgetter("page_key"), attrgetter("index")


class PassageRefs(list):  # type: ignore[type-arg]
    """A row's passages as ``(page_key, index, kept, p_yes)`` tuples; written as the usual dicts (:meth:`as_dicts`)."""

    def as_dicts(self) -> list[dict[str, Any]]:
        return [{"page_key": k, "index": i, "p_yes": p, "kept": kept} for k, i, kept, p in self]


def sample_row(s: Sample, r: Retrieval | None, j: Judgement | None, g: Generation | None, score: dict[str, Any],
               kept: Sequence[int], error: str | None, passages_dropped: int,
               evidence_in_context: bool | None) -> tuple[dict[str, Any], dict[tuple[str, int], str]]:
    """One ``samples.jsonl`` row, passages by reference (:class:`PassageRefs`), and the texts of the kept
    passages (what the run folder stores; the rest are the KB's)."""
    passages = PassageRefs()
    texts: dict[tuple[str, int], str] = {}
    if r is not None:
        ps = r.passages
        flags = [False] * len(ps)
        for i in kept:
            flags[i] = True
        p_yes = j.p_yes if j is not None and j.p_yes is not None else (None,) * len(ps)
        passages = PassageRefs(zip(map(_KEY, ps), map(_INDEX, ps), flags, p_yes))
        for i in kept:
            p = ps[i]
            texts[(p.page_key, p.index)] = p.text
    row = {
        "id": s.id, "question": s.question, "image": s.image, "references": list(s.references),
        "meta": dict(s.meta), "retrieved_pages": [list(p) for p in r.pages] if r else [], "passages": passages,
        "raw_output": g.raw if g else None, "reasoning": g.reasoning if g else None,
        "answer": g.answer if g else None, "score": score, "error": error,
        "retrieval_info": dict(r.info) if r else {}, "evidence_in_context": evidence_in_context,
        "passages_dropped": passages_dropped,
    }
    return row, texts


_MARK = "\x00passages\x00"
_MARK_JSON = json.dumps(_MARK)
_ROW_JSON = json.JSONEncoder(default=str).encode  # made once (json.dumps with options makes one per call)


def row_line(row: dict[str, Any]) -> str:
    """``json.dumps(row, default=str)`` (passages as dicts), the same text, ~3x faster: passages formatted directly.

    Falls back to ``json.dumps`` for anything unusual (a non-float score, a non-finite value, a
    non-int index), so the output never differs.
    """
    refs = row["passages"]
    if not isinstance(refs, PassageRefs):
        refs = PassageRefs((p["page_key"], p["index"], p["kept"], p["p_yes"]) for p in refs)
    parts = []
    heads: dict[str, str] = {}
    for key, index, kept, p_yes in refs:
        if type(index) is not int or not (p_yes is None or type(p_yes) is float) or type(kept) is not bool:
            return _plain(row, refs)
        value = "null" if p_yes is None else repr(p_yes)
        if "n" in value and p_yes is not None:  # nan, inf: json writes NaN, Infinity
            return _plain(row, refs)
        head = heads.get(key)
        if head is None:
            if type(key) is not str:
                return _plain(row, refs)
            head = heads[key] = '{"page_key": ' + _enc(key) + ', "index": '
        parts.append(f'{head}{index}, "p_yes": {value}, "kept": {"true" if kept else "false"}}}')
    text = _ROW_JSON({**row, "passages": _MARK})
    if text.count(_MARK_JSON) != 1:
        return _plain(row, refs)
    return text.replace(_MARK_JSON, "[" + ", ".join(parts) + "]", 1)


def _plain(row: dict[str, Any], refs: PassageRefs) -> str:
    return _ROW_JSON({**row, "passages": refs.as_dicts()})


class RunLog:
    """Writes sample rows as they finish; keeps retrieval-quality counts, scores and answers only."""

    def __init__(self, sample_file: IO[str], texts: Any) -> None:
        self.sample_file = sample_file
        self.texts = texts
        self.quality = RetrievalQuality()
        self.scores: list[dict[str, Any]] = []
        self.answers: list[str | None] = []

    def write(self, row: dict[str, Any], texts: Mapping[tuple[str, int], str]) -> None:
        """``row`` by reference (:func:`sample_row`); ``texts``: those the run folder stores, each once."""
        refs = row["passages"]
        if not isinstance(refs, PassageRefs):
            refs = PassageRefs((p["page_key"], p["index"], p["kept"], p["p_yes"]) for p in refs)
        self.quality.add(row["meta"], row["retrieved_pages"], refs, row["retrieval_info"],
                         row["evidence_in_context"], row["score"])
        self.scores.append(row["score"])
        self.answers.append(row["answer"])
        self.texts.write_texts(texts)
        self.sample_file.write(row_line(row) + "\n")
