"""Reading and writing a run folder's per-sample logs (BRIEF contract 4).

``samples.jsonl`` holds one line per sample. Each passage is stored by reference,
``{"page_key", "index", "p_yes", "kept"}``; its text is written once per page to
``passage_texts.jsonl`` beside it (one line ``{"page_key": K, "texts": {"3": "..."}}`` per page,
more lines for the same page add indices). Older runs kept ``"text"`` inside every passage; both
layouts read the same through :func:`load_sample_logs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

from .errors import InputError
from .jsonio import iter_jsonl

SAMPLES_FILE = "samples.jsonl"
PASSAGE_TEXTS_FILE = "passage_texts.jsonl"


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


def iter_sample_logs(run_dir: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, sample log)`` of a run folder, passage texts filled in; a missing text names its line."""
    folder = Path(run_dir)
    path = folder / SAMPLES_FILE
    if not path.is_file():
        raise InputError(str(path), "not found: is this a run folder?")
    texts = load_passage_texts(folder)
    for line, row in iter_jsonl(path):
        check_sample_log(row, str(path), line)
        if isinstance(row, dict):
            for p in row.get("passages") or []:
                if isinstance(p, dict) and "text" not in p:
                    key = (str(p.get("page_key")), int(p.get("index", -1)))
                    if key not in texts:
                        raise InputError(str(path), f"passage {key} has no text in {PASSAGE_TEXTS_FILE}",
                                         line=line, field="passages")
                    p["text"] = texts[key]
        yield line, row


def check_sample_log(row: Any, path: str, line: int) -> None:
    """The types and domains of a sample log's values (``InputError`` naming path, line and field): id a
    string or an integer, retrieved pages ``[key, finite score]``, passages with an index, ``p_yes`` None or
    within [0, 1] and a boolean ``kept``, every number in ``score`` finite."""
    from . import row_checks

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


def load_sample_logs(run_dir: str | Path) -> list[dict[str, Any]]:
    """The samples of a run, each a dict as :class:`~reag_harness.results.SampleLog` writes it, with texts."""
    return [row for _, row in iter_sample_logs(run_dir)]


class PassageTextWriter:
    """Strips passage texts from sample logs and writes each (page, index) text once."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.seen: set[tuple[str, int]] = set()

    def by_reference(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with passages by reference; writes the texts not yet written (one line per page)."""
        new: dict[str, dict[str, str]] = {}
        passages = []
        for p in row.get("passages") or []:
            p = dict(p)
            text = p.pop("text", None)
            key = (str(p["page_key"]), int(p["index"]))
            if key not in self.seen and text is not None:
                self.seen.add(key)
                new.setdefault(key[0], {})[str(key[1])] = text
            passages.append(p)
        if new:
            import json

            self.fh.write("".join(json.dumps({"page_key": k, "texts": t}, ensure_ascii=False) + "\n"
                                  for k, t in new.items()))
        return {**row, "passages": passages}


def run_folder(run: str | Path) -> Path:
    """The run folder of ``run`` (a folder, or its ``results.json`` / ``samples.jsonl``)."""
    path = Path(run)
    return path.parent if path.is_file() else path


def load_results(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``results.json``, or the results file given (``results_<time>.json``); ``{}`` when the run
    has none (e.g. killed before the end)."""
    import json

    from .results_files import results_path

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
