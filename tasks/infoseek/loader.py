"""InfoSeek queries: the ReAG pre-packaged JSONL and the official ``infoseek_val.jsonl``.

The scorer needs, for every question, ``answer_eval``, ``data_split`` and a question type. They are
taken from the query line itself, else from ``references=`` (the official ``infoseek_val.jsonl``,
joined on ``data_id``) and ``qtypes=`` (``infoseek_val_qtype.jsonl``; it wins over a type on the
query line, as in the official scorer). Images: an explicit path field, else the OVEN ``image_id``
under the image root. Meta: ``split`` (raw ``data_split``), ``question_type``, ``answer_eval``,
``passage_id``, ``gold_pages`` (``[passage_id]``: the KB key the reference's oracle reads),
``image_id``, and ``source_file`` / ``source_line`` / ``gold_field``.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from reag_harness.core.errors import InputError
from reag_harness.data.kb.inputs import ImageResolver, iter_jsonl, iter_records
from reag_harness.records import Sample

IMAGE_FIELDS = ("image_path", "image", "img_path", "image_file", "img")


class _Problem(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def load_qtypes(path: str) -> dict[str, str]:
    """``data_id -> question_type`` from ``infoseek_val_qtype.jsonl``."""
    out: dict[str, str] = {}
    for line, obj in iter_jsonl(path):
        if not isinstance(obj, Mapping):
            raise InputError(path, "expected a JSON object", line=line)
        for field in ("data_id", "question_type"):
            if not isinstance(obj.get(field), str):
                raise InputError(path, "is missing or not a string", line=line, field=field)
        out[obj["data_id"]] = obj["question_type"]
    return out


def load_references(path: str) -> dict[str, dict[str, Any]]:
    """``data_id -> {answer, answer_eval, data_split}`` from the official ``infoseek_val.jsonl``."""
    out: dict[str, dict[str, Any]] = {}
    for line, obj in iter_jsonl(path):
        if not isinstance(obj, Mapping):
            raise InputError(path, "expected a JSON object", line=line)
        if not isinstance(obj.get("data_id"), str):
            raise InputError(path, "is missing or not a string", line=line, field="data_id")
        out[obj["data_id"]] = {k: obj[k] for k in ("answer", "answer_eval", "data_split") if k in obj}
    return out


def load_infoseek(path: str, resolver: ImageResolver, qtypes: Mapping[str, str] | None = None,
                  references: Mapping[str, Mapping[str, Any]] | None = None, on_error: str = "stop",
                  qtypes_path: str = "", references_path: str = "", skipped: list[str] | None = None,
                  rows: Iterable[tuple[int, Any]] | None = None) -> list[Sample]:
    """Load every question of an InfoSeek query file (JSONL; a JSON list is accepted too).

    With ``on_error="skip"`` a malformed JSON line is skipped and its error appended to ``skipped``.
    ``rows``: ``(row number, record)`` from elsewhere (a ``datasets`` dataset), named ``path`` in errors.
    """
    out: list[Sample] = []
    seen: dict[str, int] = {}
    on_bad_line = None
    if on_error == "skip":
        on_bad_line = (lambda e: skipped.append(str(e))) if skipped is not None else (lambda e: None)
    for line, record in (iter_records(path, on_bad_line) if rows is None else rows):
        if not isinstance(record, Mapping):
            raise InputError(path, f"a question must be a JSON object, got {type(record).__name__}", line=line)
        data_id = record.get("data_id")
        if not isinstance(data_id, str) or not data_id:
            raise InputError(path, "is missing or not a string", line=line, field="data_id")
        if data_id in seen:
            raise InputError(path, f"data_id {data_id!r} repeats line {seen[data_id]}", line=line, field="data_id")
        seen[data_id] = line
        try:
            out.append(_sample(record, data_id, path, line, resolver, qtypes, references, qtypes_path,
                               references_path))
        except _Problem as p:
            if on_error != "skip":
                raise InputError(path, p.message, line=line, field=p.field) from None
            message = str(InputError(path, p.message, line=line, field=p.field))
            out.append(Sample(id=data_id, question=str(record.get("question") or ""), image=None,
                              meta={"input_error": message, "split": str(record.get("data_split") or ""),
                                    "question_type": str(record.get("question_type") or ""),
                                    "source_file": path, "source_line": line, "gold_field": "passage_id"}))
    return out


QUESTION_TYPES = ("STRING", "NUMERICAL", "TIME")


def _check_qtype(data_id: str, qtype: str, answer_eval: Any) -> None:
    """A known question type whose ``answer_eval`` the scorer can read (a range for NUMERICAL)."""
    from .metric import answer_range

    if qtype.upper() not in QUESTION_TYPES:
        raise _Problem("question_type", f"{data_id}: unknown question type {qtype!r} (STRING, NUMERICAL or TIME)")
    if qtype.upper() == "NUMERICAL":
        try:
            answer_range(answer_eval)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise _Problem("answer_eval", f"{data_id}: a NUMERICAL question needs a range ({exc!r})") from None
    elif not (isinstance(answer_eval, list) and answer_eval and all(isinstance(a, str) for a in answer_eval)):
        raise _Problem("answer_eval", f"{data_id}: a {qtype} question needs a non-empty list of strings, got "
                       f"{json.dumps(answer_eval)[:80]} (is the question type right?)")


def _sample(record: Mapping[str, Any], data_id: str, path: str, line: int, resolver: ImageResolver,
            qtypes: Mapping[str, str] | None, references: Mapping[str, Mapping[str, Any]] | None,
            qtypes_path: str, references_path: str) -> Sample:
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise _Problem("question", "is missing or empty")
    ref = (references or {}).get(data_id, {})
    if references is not None and not ref:
        raise _Problem("data_id", f"{data_id!r} is not in the references file {references_path}")
    answer = record.get("answer", ref.get("answer"))
    # A test split (e.g. infoseek_test.jsonl): no answer, no references file: a predict-only sample.
    unanswered = answer is None and record.get("answer_eval") is None and references is None
    if isinstance(answer, str):
        answer = [answer]
    if answer is None and not unanswered:
        raise _Problem("answer", "is missing (expected a list of strings)")
    if not unanswered and not isinstance(answer, list):
        raise _Problem("answer", f"expected a list of strings, got {type(answer).__name__}")
    if not unanswered and not answer:
        raise _Problem("answer", "is empty ([]): a question needs at least one answer")
    answer_eval = record.get("answer_eval", ref.get("answer_eval"))
    if answer_eval is None and not unanswered:
        raise _Problem("answer_eval", "is missing: pass references=infoseek_val.jsonl (the official file)")
    split = record.get("data_split", ref.get("data_split"))
    if unanswered and split is None:
        split = "test"
    if not isinstance(split, str) or not split:
        raise _Problem("data_split", "is missing: pass references=infoseek_val.jsonl (the official file)")
    if qtypes is not None:
        if data_id not in qtypes:
            raise _Problem("question_type", f"data_id {data_id!r} is not in the question-type file {qtypes_path}")
        qtype = qtypes[data_id]
    else:
        qtype = record.get("question_type", "" if unanswered else None)
    if not isinstance(qtype, str) or (not qtype and not unanswered):
        raise _Problem("question_type", "is missing: pass qtypes=infoseek_val_qtype.jsonl")
    if not unanswered:
        _check_qtype(data_id, qtype, answer_eval)
    passage_id = record.get("passage_id")
    if passage_id is not None and not isinstance(passage_id, str):
        raise _Problem("passage_id", "must be a string (a KB key)")
    image_id = record.get("image_id")
    explicit = next((str(record[f]) for f in IMAGE_FIELDS if isinstance(record.get(f), str) and record[f]), None)
    image, why = resolver.resolve(explicit, str(image_id) if image_id else None, record)
    if image is None:
        raise _Problem(next((f for f in IMAGE_FIELDS if record.get(f)), "image_id"), why)
    meta: dict[str, Any] = {
        "split": split,
        "question_type": qtype,
        "answer_eval": answer_eval,
        "passage_id": passage_id,
        "gold_pages": [passage_id] if passage_id else [],
        "image_id": image_id,
        "source_file": path,
        "source_line": line,
        "gold_field": "passage_id",
    }
    if unanswered:
        del meta["answer_eval"]
    return Sample(id=data_id, question=question, image=image, references=tuple(str(a) for a in answer or ()),
                  meta=meta)
