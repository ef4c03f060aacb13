"""EVQA queries: the ReAG pre-packaged JSON (or JSONL) and the official ``test.csv`` / ``val.csv``.

One :class:`Sample` per question. Meta: ``question_type``, ``gold_pages`` (the ``wikipedia_url``
keys, '|'-split for 2_hop), ``evidence_section_id`` (int, or None when absent or when the field
holds two ids, as for 2_hop: the reference's ``int()`` fails there too and falls back to the whole
pages), ``evidence_section_ids`` (one per gold page when given), ``dataset_image_ids``,
``dataset_name``, ``split``, and ``source_file`` / ``source_line`` / ``gold_field`` for error
messages. ``references`` are the annotator alternatives ('|'-split; "&&" stays inside one).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from reag_harness.core.errors import InputError
from reag_harness.core.jsonio import BadLine, read_text
from reag_harness.data.kb.inputs import ImageResolver, iter_records
from reag_harness.records import Sample

QUESTION_TYPES = ("templated", "automatic", "multi_answer", "2_hop")
SINGLE_HOP = ("templated", "automatic", "multi_answer")
IMAGE_FIELDS = ("image_path", "image", "img_path", "image_file", "img")
ID_FIELDS = ("unique_id", "data_id", "id", "question_id")


class _Problem(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split("|") if v.strip()]


def _section_ids(value: Any) -> tuple[int | None, list[int | None]]:
    """``evidence_section_id``: one int, or None plus the per-page list for '1|5'."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None, []
    if isinstance(value, bool):
        raise _Problem("evidence_section_id", f"must be an integer, got {value!r}")
    if isinstance(value, int):
        return value, [value]
    if isinstance(value, float) and value.is_integer():
        return int(value), [int(value)]
    parts = str(value).split("|")
    try:
        ids = [int(float(p)) if p.strip() else None for p in parts]
    except ValueError:
        raise _Problem("evidence_section_id", f"must be an integer (or 'i|j' for 2_hop), got {value!r}") from None
    return (ids[0] if len(ids) == 1 else None), ids


def _csv_rows(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(first line, row)`` of the official CSV (fields may span lines)."""
    with io.StringIO(read_text(path), newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise InputError(path, "empty CSV (no header)", line=1)
        missing = [c for c in ("question", "answer", "question_type", "wikipedia_url") if c not in reader.fieldnames]
        if missing:
            raise InputError(path, f"the header lacks column(s) {', '.join(missing)}", line=1, field=missing[0])
        start = reader.line_num + 1
        for index, row in enumerate(reader):
            if None in row:
                raise InputError(path, f"row has {len(reader.fieldnames) + len(row[None])} fields, the header "
                                 f"{len(reader.fieldnames)}", line=start)
            row["_row"] = index
            yield start, row
            start = reader.line_num + 1


def load_evqa(path: str, resolver: ImageResolver, on_error: str = "stop",
              skipped: list[str] | None = None, rows: Iterable[tuple[int, Any]] | None = None,
              stem: str | None = None) -> list[Sample]:
    """Load every question of an EVQA query file (the official CSV, or the ReAG JSON / JSONL).

    With ``on_error="skip"`` a malformed JSON line is skipped and its error appended to ``skipped``.
    ``rows``: ``(row number, record)`` from elsewhere (a ``datasets`` dataset), named ``path`` in errors.
    """
    is_csv = rows is None and path.lower().endswith(".csv")
    if rows is None and not os.path.isfile(path):
        raise InputError(path, "query file not found")
    on_bad_line: BadLine | None = None
    if on_error == "skip":
        on_bad_line = (lambda e: skipped.append(str(e))) if skipped is not None else (lambda e: None)
    if rows is None:
        rows = _csv_rows(path) if is_csv else iter_records(path, on_bad_line)
    stem = stem or Path(path).stem
    out: list[Sample] = []
    seen: dict[str, int] = {}
    for index, (line, record) in enumerate(rows):
        if not isinstance(record, Mapping):
            raise InputError(path, f"a question must be a JSON object, got {type(record).__name__}", line=line)
        sample_id = _sample_id(record, stem, index, is_csv, path, line)
        if sample_id in seen:
            field = next((f for f in ID_FIELDS if record.get(f) not in (None, "")), "unique_id")
            raise InputError(path, f"duplicate id {sample_id!r} (first on line {seen[sample_id]})", line=line,
                             field=field)
        seen[sample_id] = line
        try:
            out.append(_sample(record, sample_id, path, line, resolver, stem))
        except _Problem as p:
            if on_error != "skip":
                raise InputError(path, p.message, line=line, field=p.field) from None
            message = str(InputError(path, p.message, line=line, field=p.field))
            out.append(Sample(id=sample_id, question=str(record.get("question") or ""), image=None,
                              references=tuple(_split_list(record.get("answer"))),
                              meta={"input_error": message, "question_type": str(record.get("question_type", "")),
                                    "gold_pages": _split_list(record.get("wikipedia_url")), "split": stem,
                                    "source_file": path, "source_line": line, "gold_field": "wikipedia_url"}))
    return out


def _sample_id(record: Mapping[str, Any], stem: str, index: int, is_csv: bool, path: str = "?",
               line: int | None = None) -> str:
    """The record's id (a string or an integer: a list or a float is an error naming the field), else its row."""
    if not is_csv:
        from reag_harness.core.row_checks import row_id

        for name in ID_FIELDS:
            value = record.get(name)
            if value not in (None, ""):
                return row_id(value, path, line, name)
    return f"{stem}-{record.get('_row', index)}"


def evidence_text(record: Mapping[str, Any]) -> str | None:
    """The gold section as the reference reads it: ``retrieval[0].section_texts[int(evidence_section_id)]``
    of the query file (the ReAG JSON carries it); None when absent or unreadable, as in the reference."""
    try:
        text = record["retrieval"][0]["section_texts"][int(record["evidence_section_id"])]
    except (KeyError, IndexError, ValueError, TypeError):
        return None
    return text if isinstance(text, str) else None


def _sample(record: Mapping[str, Any], sample_id: str, path: str, line: int, resolver: ImageResolver,
            stem: str) -> Sample:
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _Problem("question", "is missing or empty")
    answers = record.get("answer")
    if isinstance(answers, str):
        references = answers.split("|")
    elif isinstance(answers, list) and all(isinstance(a, str) for a in answers):
        references = list(answers)
    else:
        raise _Problem("answer", "is missing (expected a string, '|' between alternatives, or a list)")
    if not any(a.strip() for a in references):
        raise _Problem("answer", "is empty")
    qtype = record.get("question_type")
    if qtype not in QUESTION_TYPES:
        raise _Problem("question_type", f"must be one of {', '.join(QUESTION_TYPES)}, got {qtype!r}")
    gold = _split_list(record.get("wikipedia_url"))
    if not gold:
        raise _Problem("wikipedia_url", "is missing or empty")
    section_id, section_ids = _section_ids(record.get("evidence_section_id"))
    image_ids = _split_list(record.get("dataset_image_ids"))
    explicit = next((str(record[f]) for f in IMAGE_FIELDS if isinstance(record.get(f), str) and record[f]), None)
    image, why = resolver.resolve(explicit, image_ids[0] if image_ids else None, record)
    if image is None:
        field = next((f for f in IMAGE_FIELDS if record.get(f)), "dataset_image_ids")
        raise _Problem(field, why)
    meta: dict[str, Any] = {
        "question_type": qtype,
        "gold_pages": gold,
        "evidence_text": evidence_text(record),
        "evidence_section_id": section_id,
        "evidence_section_ids": section_ids,
        "dataset_image_ids": image_ids,
        "dataset_name": record.get("dataset_name") or None,
        "split": str(record.get("encyclopedic_vqa_split") or record.get("split") or stem),
        "source_file": path,
        "source_line": line,
        "gold_field": "wikipedia_url",
    }
    return Sample(id=sample_id, question=question, image=image, references=tuple(references), meta=meta)
