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
from collections.abc import Sequence as SequenceABC
from json.encoder import encode_basestring_ascii as _enc
from typing import IO, Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..records import Generation, Judgement, Retrieval, Sample
from ..results.retrieval_quality import RetrievalQuality
from .store import fingerprint
from .stored_retrieval import passage_at, passage_count, passage_refs, passage_runs, stored_retrieval


def retrieval_from_record(data: Mapping[str, Any], kb: Any) -> tuple[Retrieval, frozenset[tuple[str, int]]]:
    """A stored Retrieval record back as a Retrieval, blank passages dropped (:func:`drop_blank`), and the
    (page, index) of texts stored inline (not the KB's).

    Reads both layouts: ``passage_runs`` (``[[page_key, [index, ...], {index: text}?], ...]``, one run
    per stretch of passages of one page; the texts only where they are not the KB's) and the older
    ``passages`` list of ``{"page_key", "index", "text"?}``. The result is a :class:`.StoredRetrieval`:
    no passage is made, nor KB text read, until used; a record that lists its ``blank`` passages
    needs none read to drop them.
    """
    stored = data.get("passage_runs")
    if stored is None:
        stored = [[p["page_key"], [p["index"]]] + ([{str(p["index"]): p["text"]}] if "text" in p else [])
                  for p in data.get("passages", ())]
    runs: list[tuple[str, list[int]]] = []
    inline: dict[tuple[str, int], str] = {}
    for run in stored:
        key = str(run[0])
        if len(run) > 2 and run[2]:
            inline.update(((key, int(i)), text) for i, text in run[2].items())
        runs.append((key, list(run[1])))
    blank = data.get("blank")
    info = dict(data.get("info", {}))
    if blank:
        skip, position, kept_runs = set(blank), 0, []
        for key, indices in runs:
            left = [i for k, i in enumerate(indices, position) if k not in skip]
            position += len(indices)
            if left:
                kept_runs.append((key, left))
        runs = kept_runs
        info["blank_passages_dropped"] = len(skip)
    r = stored_retrieval(str(data["sample_id"]), _scored(data.get("pages", ())), _scored(data.get("raw_hits", ())),
                         info, bool(data.get("used", True)), runs, inline, kb)
    if blank is None:
        return drop_blank(r), frozenset(inline)
    digest, missing = data.get("passages_digest"), data.get("pages_not_in_kb")
    if type(digest) is str:
        r.__dict__["_digest"] = digest  # of the passages left: what the judge check names (judge_check)
    if type(missing) is list:
        r.__dict__["_missing"] = missing  # retrieved pages the KB lacks (the record's KB: its store's fingerprint)
    return r, frozenset(inline)


def _scored(pairs: Sequence[Sequence[Any]]) -> tuple[tuple[str, float], ...]:
    """``[[key, score], ...]`` as ``((str, float), ...)``."""
    if not pairs:
        return ()
    keys, scores = zip(*pairs)
    return tuple(zip(map(str, keys), map(float, scores)))


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
    blank = [k for k, p in enumerate(r.passages) if not p.text.strip()]
    data = {"sample_id": r.sample_id, "pages": [list(x) for x in r.pages], "passage_runs": runs,
            "raw_hits": [list(x) for x in r.raw_hits], "info": dict(r.info), "used": r.used,
            "blank": blank, "passages_digest": passages_digest(drop_blank(r, blank), frozenset(inline)),
            "pages_not_in_kb": [key for key, _ in r.pages if key not in kb]}
    return data, frozenset(inline)


def judge_check(sample_check: str, r: Retrieval, inline: frozenset[tuple[str, int]]) -> str:
    """What a whole-sample Judgement must match: the sample and exactly these passages (``judge-check-3``).

    The passages enter by :func:`passages_digest`, which a stored Retrieval carries (made once,
    when it was stored): a cached re-run hashes ~60 bytes per question instead of ~10 KB of
    references. A Retrieval stored without it keeps :func:`judge_check_v2` (:func:`judge_checks`).
    """
    digest = r.__dict__.get("_digest") or passages_digest(r, inline)
    return hashlib.sha256(f'["judge-check-3",{_enc(sample_check)},{_enc(digest)}]'.encode()).hexdigest()[:20]


def judge_checks(sample_check: str, r: Retrieval,
                 inline: frozenset[tuple[str, int]]) -> tuple[str, Callable[[], str]]:
    """The check to look up and store a Judgement under, and the other layout's (made only when asked).

    A Retrieval that carries its digest (stored, or just made) uses ``judge-check-3``; one stored
    before it (no digest) keeps ``judge-check-2``, so an older store costs no more than it did.
    """
    if "_digest" in r.__dict__:
        return judge_check(sample_check, r, inline), lambda: judge_check_v2(sample_check, r, inline)
    return judge_check_v2(sample_check, r, inline), lambda: judge_check(sample_check, r, inline)


def passages_digest(r: Retrieval, inline: frozenset[tuple[str, int]]) -> str:
    """Which passages a Retrieval holds, blank ones dropped: their (page, index), and the texts that are not the
    KB's (``inline``; the KB's are covered by the judge store's fingerprint, which names the KB)."""
    return judge_check_v2("", r, inline)


def judge_check_v2(sample_check: str, r: Retrieval, inline: frozenset[tuple[str, int]]) -> str:
    """The check of Judgements stored before ``judge-check-3``: the sample and its passages' references.

    Passages are named by (page, index); a text is hashed only when it is not the KB's (``inline``):
    the judge store's fingerprint covers the KB's, so hashing every text again (~60 MB per 1,000
    questions) bought nothing.
    """
    if not inline and type(sample_check) is str:
        blob = _judge_blob(sample_check, passage_runs(r))
        if blob is not None:
            return hashlib.sha256(blob.encode()).hexdigest()[:20]
    refs = [[p.page_key, p.index] for p in r.passages]
    texts = [[p.page_key, p.index, p.text] for p in r.passages if (p.page_key, p.index) in inline] if inline else []
    return fingerprint("judge-check-2", sample_check, refs, texts)


def _judge_blob(sample_check: str, runs: Sequence[tuple[str, list[int]]]) -> str | None:
    """The text ``fingerprint("judge-check-2", sample_check, refs, [])`` hashes, built directly (one join per
    page); None when unusual."""
    parts = []
    for key, indices in runs:
        if type(key) is not str or not {*map(type, indices)} <= {int}:
            return None
        head = "[" + _enc(key) + ","
        parts.append(head + ("]," + head).join(map(str, indices)) + "]")
    return f'["judge-check-2",{_enc(sample_check)},[{",".join(parts)}],[]]'


class PassageRefs(SequenceABC):  # type: ignore[type-arg]
    """A row's passages as columns, read as ``(page_key, index, kept, p_yes)`` tuples; written as the usual dicts.

    ``runs``: ``[(page_key, [index, ...]), ...]`` in order (:func:`passage_runs`); ``keys`` / ``indices``:
    the same flat; ``kept``: the kept positions; ``p_yes``: one per passage (None without a critic);
    ``p_yes_texts``: each p_yes as the stage store holds it (its ``repr``), when read from there.
    No tuple is made unless asked for: :func:`row_line` writes from the columns.
    """

    def __init__(self, runs: Sequence[tuple[str, Sequence[int]]], keys: Sequence[str], indices: Sequence[int],
                 kept: Sequence[int], p_yes: Sequence[float | None], p_yes_texts: Sequence[str] = ()) -> None:
        self.runs, self.keys, self.indices, self.kept, self.p_yes = runs, keys, indices, kept, p_yes
        self.p_yes_texts = p_yes_texts
        self._rows: list[tuple[Any, Any, Any, Any]] | None = None

    @classmethod
    def of(cls, rows: Iterable[tuple[Any, Any, Any, Any]]) -> PassageRefs:
        """From ``(page_key, index, kept, p_yes)`` tuples (written as given, whatever their types)."""
        made = cls([], [], [], [], [])
        made._rows = list(rows)
        return made

    def tuples(self) -> list[tuple[Any, Any, Any, Any]]:
        if self._rows is None:
            flags = [False] * len(self.keys)
            for i in self.kept:
                flags[i] = True
            self._rows = list(zip(self.keys, self.indices, flags, self.p_yes))
        return self._rows

    def __len__(self) -> int:
        return len(self._rows) if self._rows is not None else min(len(self.keys), len(self.p_yes))

    def __getitem__(self, i: Any) -> Any:
        return self.tuples()[i]

    def __iter__(self) -> Iterator[tuple[Any, Any, Any, Any]]:
        return iter(self.tuples())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (list, PassageRefs)) else NotImplemented

    def kept_positions(self) -> Sequence[int] | None:
        """The kept positions, when known without the tuples (else None)."""
        return self.kept if self._rows is None or self.runs else None

    def as_dicts(self) -> list[dict[str, Any]]:
        return [{"page_key": k, "index": i, "p_yes": p, "kept": kept} for k, i, kept, p in self]

    def json_body(self) -> str | None:
        """The passages as ``json.dumps`` writes them (without the brackets); None when anything is unusual."""
        if self._rows is not None and not self.runs:
            return None
        n = len(self.keys)
        if len(self.p_yes) != n or not {*map(type, self.keys)} <= {str} or not {*map(type, self.indices)} <= {int}:
            return None
        values = self.p_yes_texts
        if len(values) != n:
            if not {*map(type, self.p_yes)} <= {float, type(None)}:
                return None
            values = ["null" if v is None else repr(v) for v in self.p_yes]
            if "n" in "".join(values).replace("null", ""):  # nan, inf: json writes NaN, Infinity
                return None
        flags = ["false"] * n
        for i in self.kept:
            flags[i] = "true"
        parts = []
        pos = 0
        for key, indices in self.runs:
            head = '{"page_key": ' + _enc(key) + ', "index": '
            for index in indices:
                parts.append(f'{head}{index}, "p_yes": {values[pos]}, "kept": {flags[pos]}}}')
                pos += 1
        return ", ".join(parts) if pos == n else None


def sample_row(s: Sample, r: Retrieval | None, j: Judgement | None, g: Generation | None, score: dict[str, Any],
               kept: Sequence[int], error: str | None, passages_dropped: int,
               evidence_in_context: bool | None,
               p_yes_texts: Sequence[str] = ()) -> tuple[dict[str, Any], dict[tuple[str, int], str]]:
    """One ``samples.jsonl`` row, passages by reference (:class:`PassageRefs`), and the texts of the kept
    passages (what the run folder stores; the rest are the KB's). ``p_yes_texts``: p_yes as stored."""
    passages = PassageRefs([], [], [], [], [])
    texts: dict[tuple[str, int], str] = {}
    if r is not None:
        n = passage_count(r)
        keys, indices = passage_refs(r)
        p_yes = j.p_yes if j is not None and j.p_yes is not None else (None,) * n
        passages = PassageRefs(passage_runs(r), keys, indices, kept, p_yes, p_yes_texts)
        for i in kept:
            p = passage_at(r, i)
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
    """``json.dumps(row, default=str)`` (passages as dicts), the same text, ~4x faster: passages written from
    :class:`PassageRefs`' columns.

    Falls back to ``json.dumps`` for anything unusual (a non-float score, a non-finite value, a
    non-int index), so the output never differs.
    """
    refs = row["passages"]
    if not isinstance(refs, PassageRefs):
        refs = PassageRefs.of((p["page_key"], p["index"], p["kept"], p["p_yes"]) for p in refs)
    body = refs.json_body() if len(refs) else ""
    if body is None:
        return _plain(row, refs)
    text = _ROW_JSON({**row, "passages": _MARK})
    if text.count(_MARK_JSON) != 1:
        return _plain(row, refs)
    return text.replace(_MARK_JSON, "[" + body + "]", 1)


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
            refs = PassageRefs.of((p["page_key"], p["index"], p["kept"], p["p_yes"]) for p in refs)
        self.quality.add(row["meta"], row["retrieved_pages"], refs, row["retrieval_info"],
                         row["evidence_in_context"], row["score"])
        self.scores.append(row["score"])
        self.answers.append(row["answer"])
        self.texts.write_texts(texts)
        self.sample_file.write(row_line(row) + "\n")
