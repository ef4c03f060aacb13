"""``precomputed``: rankings per question id read from a file, so generators and critics can be
compared on a fixed retrieval (``--retriever precomputed --retriever-args file=PATH[,format=...]``).

Formats (``format=auto`` tells them apart row by row; see docs/retrieval.md for examples):

- ``reag`` (ours): JSONL rows, a JSON list of rows, or a JSON object keyed by id. A row has an id
  (``id``/``sample_id``/``data_id``/``unique_id``/``question_id``), ``pages`` (``[[key, score], ...]``,
  ``[key, ...]`` or ``[{"key":, "score":}, ...]``) and optionally ``passages`` (``[{"page_key":,
  "index":, "text":?, "score":?}, ...]`` or ``[[page_key, index], ...]``). A run's own
  ``samples.jsonl`` (``retrieved_pages`` + ``passages``) is read as this format too.
- ``echosight``: the file EchoSight's ``test/test_reranker.py --save_result`` writes: a JSON object
  keyed by ``data_id`` (EVQA questions are ``E-VQA_{row of test.csv}``) with ``retrieved_entries``
  (URLs) and ``retrieval_similarities``, plus ``reranked_entries`` / ``reranked_sections`` after its
  reranker. ``stage=reranked`` (default when present) or ``stage=retrieved`` picks the list.
- ``knn-rows``: raw FAISS row ids per id (``{id: [row, ...]}``), resolved through the ``knn.json`` of a
  released index (``keys=PATH``), as ReflectiVA's ``release_retrieval.py`` does at run time.

Passages: those of the file when it has them (``passages=file``, default ``auto``), else every
passage of each page from the KB (``passages=kb``). A file passage is looked up in the KB by page
and index (EchoSight sections by their text); a text that differs from the KB's is an error (a
stale file). A question id absent from the file is an error naming the file and the id
(``--on-error skip`` records it and goes on).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping, Sequence

from reag_harness.core import row_checks
from reag_harness.core.errors import HarnessError, InputError
from reag_harness.core.jsonio import NonFiniteNumber, iter_jsonl, strict_load
from reag_harness.core.versions import doc_ref
from reag_harness.data.kb.inputs import file_identity
from reag_harness.data.retrieval.faiss_index import load_keys
from reag_harness.interfaces import Component, KnowledgeBase, Runtime
from reag_harness.records import Passage, Retrieval, Sample

FORMATS = ("auto", "reag", "echosight", "knn-rows")
ID_FIELDS = ("id", "sample_id", "data_id", "unique_id", "question_id")
ECHOSIGHT_HEADER = re.compile(r"^# Wiki Article: .*\n## Section Title: .*\n", re.S)


def read_rows(path: str, lines: dict[str, int] | None = None) -> dict[str, Any]:
    """``id -> row`` from a JSON object keyed by id, a JSON list of rows, or JSONL rows (``lines``: id -> line).

    Ids are strings or integers; NaN / Infinity anywhere in the file are refused (row_checks)."""
    if not os.path.isfile(path):
        raise InputError(path, "precomputed retrieval file not found", field="file")
    with open(path, encoding="utf-8") as f:
        head = f.read(4096).lstrip("\ufeff \t\r\n")
    rows: list[tuple[int | None, Any]]
    if path.endswith(".json") or head.startswith("["):
        try:
            with open(path, encoding="utf-8") as f:
                data = strict_load(f)
        except NonFiniteNumber as exc:
            raise InputError(path, f"not valid JSON: {exc}") from None
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from exc
        if isinstance(data, Mapping):
            return {str(k): v for k, v in data.items()}
        if not isinstance(data, list):
            raise InputError(path, "expected a JSON object keyed by question id, or a list of rows")
        rows = [(None, r) for r in data]
    else:
        rows = list(iter_jsonl(path))
    out: dict[str, Any] = {}
    for n, (line, row) in enumerate(rows):
        where = {"line": line} if line is not None else {}
        if not isinstance(row, Mapping):
            raise InputError(path, f"row {n}: expected an object with an id", **where)
        rid = next((row[f] for f in ID_FIELDS if row.get(f) not in (None, "")), None)
        if rid is None:
            raise InputError(path, f"row {n} has no id (one of {', '.join(ID_FIELDS)})", field="id", **where)
        rid = row_checks.row_id(rid, path, line, next(f for f in ID_FIELDS if row.get(f) not in (None, "")))
        if rid in out:
            raise InputError(path, f"id {rid!r} appears twice", field="id", **where)
        out[rid] = row
        if lines is not None and line is not None:
            lines[rid] = line
    return out


def _pages(value: Any, path: str, rid: str, line: int | None = None) -> list[tuple[str, float]]:
    if value is not None and not isinstance(value, list):
        raise InputError(path, f"id {rid!r}: pages must be a list", line=line, field="pages")
    out = []
    for rank, item in enumerate(value or []):
        field = f"pages[{rank}]"
        if isinstance(item, str):
            out.append((item, 1.0 / (rank + 1)))
        elif isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
            out.append((item[0], row_checks.score(item[1], path, line, field) if len(item) > 1 else 1.0 / (rank + 1)))
        elif isinstance(item, Mapping) and isinstance(item.get("key"), str):
            out.append((item["key"], row_checks.score(item["score"], path, line, f"{field}.score")
                        if "score" in item else 1.0 / (rank + 1)))
        else:
            raise InputError(path, f"id {rid!r}: page {rank} is not a key, [key, score] or {{key, score}}: "
                             f"{item!r:.80}", line=line, field="pages")
    return out


class PrecomputedRetriever(Component):
    """Pages (and passages) per question id from a file."""

    name = "precomputed"
    version = "1"

    def __init__(self, runtime: Runtime, file: str = "", format: str = "auto", passages: str = "auto",
                 stage: str = "auto", keys: str | None = None, top_k: int | None = None,
                 top_passages: int | None = None) -> None:
        super().__init__(runtime, file=file, format=format, passages=passages, stage=stage, keys=keys, top_k=top_k,
                         top_passages=top_passages)
        if not file:
            raise HarnessError(f"retriever precomputed needs file=PATH (see {doc_ref('retrieval.md')} for the formats)")
        if format not in FORMATS:
            raise HarnessError(f"retriever precomputed: format={format!r}: use one of {', '.join(FORMATS)}")
        if passages not in ("auto", "file", "kb"):
            raise HarnessError(f"retriever precomputed: passages={passages!r}: use auto, file or kb")
        if stage not in ("auto", "retrieved", "reranked"):
            raise HarnessError(f"retriever precomputed: stage={stage!r}: use auto, retrieved or reranked")
        if format == "knn-rows" and not keys:
            raise HarnessError("retriever precomputed: format=knn-rows needs keys=PATH/knn.json")
        self.path, self.format, self.passage_mode, self.stage = os.path.expanduser(file), format, passages, stage
        self.keys_path = os.path.expanduser(keys) if keys else None
        self.top_k = None if top_k is None else int(top_k)
        self.top_passages = None if top_passages is None else int(top_passages)
        self._rows: dict[str, Any] | None = None
        self._lines: dict[str, int] = {}
        self._identity: dict[str, Any] | None = None

    def preflight(self) -> list[str]:
        out = []
        if not os.path.isfile(self.path):
            out.append(f"retrieval file {self.path} not found (file=PATH)")
        if self.keys_path and not os.path.isfile(self.keys_path):
            out.append(f"knn.json {self.keys_path} not found (keys=PATH)")
        return out

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            files = {"file": file_identity(self.path) if os.path.isfile(self.path) else self.path}
            if self.keys_path:
                files["keys"] = file_identity(self.keys_path) if os.path.isfile(self.keys_path) else self.keys_path
            for f in files.values():
                if isinstance(f, dict):
                    f.pop("path", None)
                    f.pop("mtime", None)
            args = {k: v for k, v in self.args.items() if k not in ("file", "keys")}
            self._identity = {"name": self.name, "version": self.version, "args": args, "files": files}
        return self._identity

    def rows(self) -> dict[str, Any]:
        if self._rows is None:
            self._rows = read_rows(self.path, self._lines)
        return self._rows

    def row_for(self, sample: Sample) -> tuple[str, Any]:
        """The sample's row: by its id, else EchoSight's ``E-VQA_{row}`` for a CSV row id ``{stem}-{row}``."""
        rows = self.rows()
        candidates = [sample.id]
        m = re.fullmatch(r".*-(\d+)", sample.id)
        if m:
            candidates.append(f"E-VQA_{m.group(1)}")
        for c in candidates:
            if c in rows:
                return c, rows[c]
        raise InputError(self.path, f"has no retrieval for sample {sample.id!r} (looked for id "
                         f"{' or '.join(repr(c) for c in candidates)})", field="id")

    # -- formats -----------------------------------------------------------------------------------
    def _kind(self, row: Any) -> str:
        if self.format != "auto":
            return self.format
        if isinstance(row, Mapping) and "retrieved_entries" in row:
            return "echosight"
        if isinstance(row, list) or (isinstance(row, Mapping) and "rows" in row):
            return "knn-rows"
        return "reag"

    def parse(self, rid: str, row: Any) -> tuple[list[tuple[str, float]], list[dict[str, Any]] | None, dict]:
        """(pages, file passages or None, info) of one row."""
        kind = self._kind(row)
        info: dict[str, Any] = {"precomputed": kind, "file_id": rid}
        line = self._lines.get(rid)
        if kind == "knn-rows":
            ids = row.get("rows") if isinstance(row, Mapping) else row
            keys = load_keys(self.keys_path or "")
            pages = []
            for rank, r in enumerate(ids or []):
                if not isinstance(r, int) or not 0 <= r < len(keys):
                    raise InputError(self.path, f"id {rid!r}: row {r!r} is not a row of {self.keys_path} "
                                     f"({len(keys)} rows)", field="rows")
                pages.append((keys[r], 1.0 / (rank + 1)))
            return _dedupe(pages), None, info
        if not isinstance(row, Mapping):
            raise InputError(self.path, f"id {rid!r}: expected an object, got {type(row).__name__}")
        if kind == "echosight":
            reranked = "reranked_entries" in row
            use = self.stage if self.stage != "auto" else ("reranked" if reranked else "retrieved")
            if use == "reranked" and not reranked:
                raise InputError(self.path, f"id {rid!r} has no reranked_entries (stage=reranked)",
                                 field="reranked_entries")
            field = "reranked_entries" if use == "reranked" else "retrieved_entries"
            urls = row[field]
            if not isinstance(urls, list):
                raise InputError(self.path, f"id {rid!r}: must be a list of page keys", line=line, field=field)
            urls = [row_checks.text(u, self.path, line, f"{field}[{i}]") for i, u in enumerate(urls)]
            sims = row.get("retrieval_similarities") if use == "retrieved" else None
            if sims is not None and not isinstance(sims, list):
                raise InputError(self.path, f"id {rid!r}: must be a list of scores", line=line,
                                 field="retrieval_similarities")
            pages = [(u, row_checks.score(sims[i], self.path, line, f"retrieval_similarities[{i}]")
                      if sims and i < len(sims) else 1.0 / (i + 1)) for i, u in enumerate(urls)]
            info["stage"] = use
            sections = row.get("reranked_sections") if use == "reranked" else None
            passages = [{"text": t} for t in sections] if sections else None
            return pages, passages, info
        pages = _pages(row.get("pages", row.get("retrieved_pages")), self.path, rid, line)
        raw = row.get("passages")
        passages = None
        if raw:
            passages = []
            for i, p in enumerate(raw):
                if isinstance(p, Mapping) and isinstance(p.get("page_key"), str) and _is_index(p.get("index")):
                    if "score" in p:
                        row_checks.score(p["score"], self.path, line, f"passages[{i}].score")
                    passages.append(dict(p))
                elif isinstance(p, (list, tuple)) and len(p) >= 2 and isinstance(p[0], str) and _is_index(p[1]):
                    passages.append({"page_key": p[0], "index": p[1]})
                else:
                    raise InputError(self.path, f"id {rid!r}: passage {i} needs page_key (a string) and index (an "
                                     "integer >= 0)", line=line, field="passages")
        return pages, passages, info

    # -- retrieval -------------------------------------------------------------------------------
    def _file_passages(self, rid: str, specs: list[dict[str, Any]], pages: list[tuple[str, float]],
                       kb: KnowledgeBase) -> list[Passage]:
        out = []
        for spec in specs:
            if "page_key" not in spec:  # an EchoSight section: find it by its text in the retrieved pages
                text = ECHOSIGHT_HEADER.sub("", spec["text"], count=1).strip()
                found = next((Passage(k, i, t) for k, _ in pages if k in kb
                              for i, t in enumerate(kb.passages(k)) if t.strip() == text), None)
                if found is None:
                    raise InputError(self.path, f"id {rid!r}: a reranked section is in none of the retrieved pages "
                                     f"of the KB ({text[:60]!r}...): is it the same knowledge base?",
                                     field="reranked_sections")
                out.append(found)
                continue
            key, index = spec["page_key"], int(spec["index"])
            if key not in kb or not 0 <= index < len(kb.passages(key)):
                raise InputError(self.path, f"id {rid!r}: passage {key!r}#{index} is not in the knowledge base",
                                 field="passages")
            text = kb.passages(key)[index]
            if isinstance(spec.get("text"), str) and spec["text"] != text:
                raise InputError(self.path, f"id {rid!r}: the text of passage {key!r}#{index} differs from the "
                                 "knowledge base's (a file made with another KB?)", field="passages")
            out.append(Passage(key, index, text))
        return out

    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]:
        out = []
        for s in samples:
            rid, row = self.row_for(s)
            pages, specs, info = self.parse(rid, row)
            raw = tuple(pages)
            pages = _dedupe(pages)[: self.top_k] if self.top_k else _dedupe(pages)
            missing = [k for k, _ in pages if k not in kb]
            if missing:
                info["not_in_kb"] = missing
            if specs is not None and self.passage_mode != "kb":
                passages = self._file_passages(rid, specs, pages, kb)
                info["passages_from"] = "file"
                if any("score" in sp for sp in specs) or info["precomputed"] == "echosight":
                    info["passages_ranked"] = True
            elif self.passage_mode == "file":
                raise InputError(self.path, f"id {rid!r} has no passages (passages=file)", field="passages")
            else:
                passages = [Passage(k, i, t) for k, _ in pages if k in kb for i, t in enumerate(kb.passages(k))]
                info["passages_from"] = "kb"
            if self.top_passages:
                passages = passages[: self.top_passages]
            out.append(Retrieval(sample_id=s.id, pages=tuple(pages), passages=tuple(passages), raw_hits=raw,
                                 info=info))
        return out


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _dedupe(pages: list[tuple[str, float]]) -> list[tuple[str, float]]:
    seen: dict[str, float] = {}
    for k, score in pages:
        seen.setdefault(k, score)
    return list(seen.items())
