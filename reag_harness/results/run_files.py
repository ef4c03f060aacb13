"""Reading and writing a run folder's per-sample logs (BRIEF contract 4).

``samples.jsonl`` holds one line per sample. Each passage is stored by reference,
``{"page_key", "index", "p_yes", "kept"}``; its text is written once per page to
``passage_texts.jsonl`` beside it (one line ``{"page_key": K, "texts": {"3": "..."}}`` per page,
more lines for the same page add indices). Older runs kept ``"text"`` inside every passage; both
layouts read the same through :func:`load_sample_logs`.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _enc_text
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..core.errors import InputError
from ..core.jsonio import iter_jsonl

SAMPLES_FILE = "samples.jsonl"
PASSAGE_TEXTS_FILE = "passage_texts.jsonl"
_TEXTS_JSON = json.JSONEncoder(ensure_ascii=False).encode  # made once (json.dumps makes one per call)


def texts_line(page_key: str, texts: Mapping[str, str]) -> str:
    """One ``passage_texts.jsonl`` line: ``json.dumps({"page_key": ..., "texts": ...}, ensure_ascii=False)``,
    the same text, formatted directly (~3x faster); anything but strings goes through ``json``."""
    if type(page_key) is str and {*map(type, texts), *map(type, texts.values())} == {str}:
        body = ", ".join([f"{_enc_text(k)}: {_enc_text(t)}" for k, t in texts.items()])
        return f'{{"page_key": {_enc_text(page_key)}, "texts": {{{body}}}}}\n'
    return _TEXTS_JSON({"page_key": page_key, "texts": texts}) + "\n"


def load_passage_texts(run_dir: str | Path) -> dict[tuple[str, int], str]:
    """``(page_key, index) -> text`` from ``passage_texts.jsonl`` (empty when the file is absent)."""
    path = Path(run_dir) / PASSAGE_TEXTS_FILE
    texts: dict[tuple[str, int], str] = {}
    if not path.is_file():
        return texts
    for line, row in iter_jsonl(path):
        if not isinstance(row, Mapping) or not isinstance(row.get("texts"), Mapping) or "page_key" not in row:
            raise InputError(str(path), "expected {\"page_key\": ..., \"texts\": {index: text}}", line=line)
        for index, text in row["texts"].items():
            if not index.isdigit() or not isinstance(text, str):
                raise InputError(str(path), f"texts: {index!r} must be a passage index with a string text",
                                 line=line, field="texts")
            texts[(str(row["page_key"]), int(index))] = text
    return texts


def iter_sample_logs(run_dir: str | Path, texts: bool = True) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, sample log)`` of a run folder, passage texts filled in; a missing text names its line.

    ``texts=False`` reads the rows as stored (passages by reference, no KB opened): for readers
    that need no passage text (scores, intervals).
    """
    folder = Path(run_dir)
    path = folder / SAMPLES_FILE
    if not path.is_file():
        raise InputError(str(path), "not found: is this a run folder?")
    if not texts:
        for line, row in iter_jsonl(path):
            check_sample_log(row, str(path), line)
            yield line, row
        return
    stored = load_passage_texts(folder)
    kb = KBTexts(folder)
    for line, row in iter_jsonl(path):
        check_sample_log(row, str(path), line)
        if isinstance(row, dict):
            for p in row.get("passages") or []:
                if isinstance(p, dict) and "text" not in p:
                    key = (str(p.get("page_key")), int(p.get("index", -1)))
                    if key in stored:
                        p["text"] = stored[key]
                    elif kb.declared:
                        p["text"] = kb.text(*key)
                    else:
                        raise InputError(str(path), f"passage {key} has no text in {PASSAGE_TEXTS_FILE}",
                                         line=line, field="passages")
        yield line, row
    kb.report()


def check_sample_log(row: Any, path: str, line: int) -> None:
    """The types and domains of a sample log's values (``InputError`` naming path, line and field): id a
    string or an integer, retrieved pages ``[key, finite score]``, passages with an index, ``p_yes`` None or
    within [0, 1] and a boolean ``kept``, every number in ``score`` finite."""
    from ..core import row_checks

    if not isinstance(row, dict):
        raise InputError(path, "expected a sample log object", line=line)
    row_checks.row_id(row.get("id"), path, line)
    pages = row.get("retrieved_pages") or []
    if not isinstance(pages, list):
        raise InputError(path, "must be a list of [page key, score]", line=line, field="retrieved_pages")
    for i, page in enumerate(pages):
        if not isinstance(page, list) or len(page) != 2:
            raise InputError(path, "must be [page key, score]", line=line, field=f"retrieved_pages[{i}]")
        row_checks.text(page[0], path, line, f"retrieved_pages[{i}][0]")
        row_checks.score(page[1], path, line, f"retrieved_pages[{i}][1]")
    passages = row.get("passages") or []
    if not isinstance(passages, list):
        raise InputError(path, "must be a list of passages", line=line, field="passages")
    for i, p in enumerate(passages):
        if not isinstance(p, dict):
            raise InputError(path, "must be a passage object", line=line, field=f"passages[{i}]")
        row_checks.index(p.get("index"), path, line, f"passages[{i}].index")
        if p.get("p_yes") is not None:
            row_checks.probability(p["p_yes"], path, line, f"passages[{i}].p_yes")
        if "kept" in p and not isinstance(p["kept"], bool):
            raise InputError(path, f"must be true or false, got {p['kept']!r:.40}", line=line,
                             field=f"passages[{i}].kept")
    score = row.get("score")
    if score is not None and not isinstance(score, dict):
        raise InputError(path, "must be an object", line=line, field="score")
    for key, value in (score or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            row_checks.score(value, path, line, f"score.{key}")
    for key in ("raw_output", "answer", "reasoning", "error", "question"):
        if row.get(key) is not None:
            row_checks.text(row[key], path, line, key)



class KBTexts:
    """Texts a run left to its KB (``results.json`` → ``runtime_facts.knowledge_base.fingerprint``), read when needed.

    The KB is opened through the run's task, once, and used only when its fingerprint is the
    recorded one; otherwise (or when it cannot be opened) such passages read as ``None`` and one
    line on stderr says why.
    """

    def __init__(self, folder: Path) -> None:
        ref = (load_results(folder).get("runtime_facts") or {}).get("knowledge_base") or {}
        self.folder = folder
        self.fingerprint = ref.get("fingerprint") if isinstance(ref, Mapping) else None
        self.declared = bool(self.fingerprint)
        self.kb: Any = None
        self.why: str | None = None
        self.missing = 0

    def _open(self) -> None:
        try:
            import dataclasses

            from ..core.config import RunConfig
            from ..core.plugin_manager import get_registry
            from ..interfaces import Runtime

            config = load_results(self.folder).get("config") or {}
            known = {f.name for f in dataclasses.fields(RunConfig)}  # results.json adds run_dir, merged_from, ...
            cfg = RunConfig.from_mapping({k: v for k, v in config.items() if k in known})
            kb = get_registry().create("task", cfg.task, Runtime(), dict(cfg.task_args)).knowledge_base()
            if kb.fingerprint() != self.fingerprint:
                self.why = f"the KB there now has fingerprint {kb.fingerprint()}, the run used {self.fingerprint}"
            else:
                self.kb = kb
        except Exception as exc:  # noqa: BLE001 - any failure to open: texts read as None, said once
            self.why = f"the run's KB cannot be opened ({type(exc).__name__}: {exc})"

    def text(self, page_key: str, index: int) -> str | None:
        if self.kb is None and self.why is None:
            self._open()
        if self.kb is not None and page_key in self.kb:
            page = self.kb.passages(page_key)
            if 0 <= index < len(page):
                return page[index]
        self.missing += 1
        return None

    def report(self) -> None:
        if self.missing:
            import sys

            print(f"reag-eval: {self.folder}: {self.missing} passage text(s) are kept by reference to the KB "
                  f"{self.fingerprint} and read as empty: {self.why or 'not in that KB'}", file=sys.stderr)


def load_sample_logs(run_dir: str | Path, texts: bool = True) -> list[dict[str, Any]]:
    """The samples of a run, each a dict as :class:`~reag_harness.results.run_results.SampleLog` writes it,
    with texts."""
    return [row for _, row in iter_sample_logs(run_dir, texts)]


class PassageTextWriter:
    """Strips passage texts from sample logs and writes each (page, index) text once.

    With ``kb_texts`` (see :meth:`by_reference`) only the texts a reader cannot get from the KB are
    written: kept passages, and texts that are not the KB's; the rest stay references to the KB
    named by its fingerprint in ``results.json`` (``runtime_facts.knowledge_base``).
    """

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.seen: set[tuple[str, int]] = set()

    def write_texts(self, texts: Mapping[tuple[str, int], str]) -> None:
        """Write the texts ``(page_key, index) -> text`` not yet written (one line per page)."""
        new: dict[str, dict[str, str]] = {}
        for key, text in texts.items():
            if key not in self.seen:
                self.seen.add(key)
                new.setdefault(key[0], {})[str(key[1])] = text
        if new:
            self.fh.write("".join(texts_line(k, t) for k, t in new.items()))

    def by_reference(self, row: dict[str, Any], kb_texts: Any = None) -> dict[str, Any]:
        """``row`` with passages by reference; writes the texts not yet written (one line per page).

        ``kb_texts``: None writes every text; else a set of (page, index) whose text is not the KB's,
        and only those and the kept passages' texts are written.
        """
        new: dict[str, dict[str, str]] = {}
        passages = []
        seen = self.seen
        for p in row.get("passages") or []:
            p = dict(p)
            text = p.pop("text", None)
            key = (str(p["page_key"]), int(p["index"]))
            if text is not None and key not in seen and (kb_texts is None or p.get("kept") or key in kb_texts):
                seen.add(key)
                new.setdefault(key[0], {})[str(key[1])] = text
            passages.append(p)
        if new:
            self.fh.write("".join(texts_line(k, t) for k, t in new.items()))
        return {**row, "passages": passages}


def run_folder(run: str | Path) -> Path:
    """The run folder of ``run`` (a folder, or its ``results.json`` / ``samples.jsonl``)."""
    path = Path(run)
    return path.parent if path.is_file() else path


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``results.json``, or the results file given (``results_<time>.json``); ``{}`` when the run
    has none (e.g. killed before the end)."""
    import json

    from .files import results_path

    path = results_path(run_dir)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON ({exc.msg})", line=exc.lineno) from exc
    if not isinstance(data, dict):
        raise InputError(str(path), "expected a JSON object")
    return data
