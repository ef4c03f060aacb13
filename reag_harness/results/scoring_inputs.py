"""Reading ``reag-eval score``'s inputs: predictions in any accepted format, InfoSeek and EVQA references, validated.

Predictions may be official ``{data_id, prediction}`` JSONL, a harness ``samples.jsonl`` (``id`` +
``prediction`` or ``answer``), a JSON list (e.g. one ReAG ``split_N.json``) or a ReAG run folder (all its
``split_*.json`` merged). References: InfoSeek ``infoseek_val.jsonl`` (+ ``--qtypes
infoseek_val_qtype.jsonl``); EVQA's official CSV (the 0-based row index is the id) or JSON / JSONL
with ``data_id`` (or ``unique_id``), ``question``, ``answer``, ``question_type``. Malformed input is an
:class:`~reag_harness.core.errors.InputError` naming the file, line (or JSON list item) and field.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reag_harness.core.errors import InputError
from reag_harness.core.jsonio import NonFiniteNumber, strict_loads
from reag_harness.core.row_checks import row_id

_ID_FIELDS = ("data_id", "id", "sample_id", "unique_id")
_PRED_FIELDS = ("prediction", "answer", "answers")
_INFOSEEK_TYPES = ("string", "numerical", "time")
_EVQA_TYPES = ("templated", "automatic", "multi_answer", "2_hop")


@dataclass(frozen=True)
class Predictions:
    """Predictions keyed by id (str). ``where`` maps each id to its (file, line or None, item label)."""

    by_id: dict[str, str]
    where: dict[str, tuple[str, int | None, str]]
    n_null: int
    sources: list[str]


def _where(line: int | None, item: int | None) -> str:
    return f"item {item}: " if line is None and item is not None else ""


def _records(path: Path) -> Iterator[tuple[int | None, int | None, Any]]:
    """Yield ``(line, item, record)`` from a JSONL file (1-based lines) or a JSON list (0-based items)."""
    if path.suffix.lower() == ".json":
        try:
            data = strict_loads(path.read_text(encoding="utf-8"))
        except NonFiniteNumber as exc:
            raise InputError(str(path), f"invalid JSON: {exc}") from None
        except json.JSONDecodeError as exc:
            raise InputError(str(path), f"invalid JSON: {exc.msg}", line=exc.lineno) from exc
        except UnicodeDecodeError as exc:
            raise InputError(str(path), f"not UTF-8 text: {exc}") from exc
        if isinstance(data, Mapping):
            for key in ("predictions", "data", "samples"):
                if isinstance(data.get(key), list):
                    data = data[key]
                    break
            else:
                if all(isinstance(v, str) or v is None for v in data.values()):  # {id: prediction}
                    for i, (k, v) in enumerate(data.items()):
                        yield None, i, {"data_id": k, "prediction": v}
                    return
        if not isinstance(data, list):
            raise InputError(str(path), "expected a JSON list of objects")
        for i, rec in enumerate(data):
            yield None, i, rec
        return
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = strict_loads(line)
            except NonFiniteNumber as exc:
                raise InputError(str(path), f"invalid JSON: {exc}", line=lineno) from None
            except json.JSONDecodeError as exc:
                raise InputError(str(path), f"invalid JSON: {exc.msg}", line=lineno) from exc
            yield lineno, None, record


def _prediction_records(path: Path) -> Iterator[tuple[int | None, int | None, Any]]:
    """A run folder's ``samples.jsonl`` via :func:`~reag_harness.results.run_files.iter_sample_logs`; else
    ``_records``."""
    if path.name == "samples.jsonl" and (path.parent / "results.json").is_file():
        from reag_harness.results.run_files import iter_sample_logs

        return ((line, None, rec) for line, rec in iter_sample_logs(path.parent, texts=False))
    return _records(path)


def _object(path: Path, line: int | None, item: int | None, rec: Any) -> Mapping[str, Any]:
    if not isinstance(rec, Mapping):
        raise InputError(str(path), f"{_where(line, item)}expected a JSON object, got {type(rec).__name__}", line=line)
    return rec


def _first(rec: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in rec), None)


def read_predictions(path: str | Path) -> Predictions:
    """Read predictions in any accepted format; refuse duplicate ids (naming both places)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("split_*.json"))
        if not files and (path / "samples.jsonl").is_file():
            files = [path / "samples.jsonl"]
        if not files:
            raise InputError(str(path), "no split_*.json or samples.jsonl in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise InputError(str(path), "predictions file not found")
    by_id: dict[str, str] = {}
    where: dict[str, tuple[str, int | None, str]] = {}
    n_null = 0
    for file in files:
        for line, item, rec in _prediction_records(file):
            rec = _object(file, line, item, rec)
            id_field = _first(rec, _ID_FIELDS)
            if id_field is None or rec[id_field] is None:
                raise InputError(str(file), f"{_where(line, item)}missing id", line=line, field="data_id")
            pid = row_id(rec[id_field], str(file), line, id_field)
            pred_field = _first(rec, _PRED_FIELDS)
            if pred_field is None:
                raise InputError(str(file), f"{_where(line, item)}missing prediction", line=line, field="prediction")
            value = rec[pred_field]
            if value is None:
                n_null += 1
                value = ""
            elif not isinstance(value, str):
                raise InputError(str(file), f"{_where(line, item)}expected a string, got {type(value).__name__}",
                                 line=line, field=pred_field)
            if pid in by_id:
                first = where[pid]
                at = f"line {first[1]}" if first[1] is not None else first[2]
                raise InputError(str(file), f"{_where(line, item)}duplicate prediction for id {pid!r} "
                                 f"(first in {first[0]} {at})", line=line, field=id_field)
            by_id[pid] = value
            where[pid] = (str(file), line, f"item {item}")
    return Predictions(by_id, where, n_null, [str(f) for f in files])


@dataclass(frozen=True)
class InfoSeekReference:
    data_id: str
    data_split: str
    question_type: str
    answer_eval: Any


def _read_qtypes(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line, item, rec in _records(path):
        rec = _object(path, line, item, rec)
        for name in ("data_id", "question_type"):
            if name not in rec:
                raise InputError(str(path), f"{_where(line, item)}missing field", line=line, field=name)
        qtype = rec["question_type"]
        if not isinstance(qtype, str) or qtype.lower() not in _INFOSEEK_TYPES:
            raise InputError(str(path), f"{_where(line, item)}unknown question type {qtype!r} "
                             "(STRING, NUMERICAL or TIME)", line=line, field="question_type")
        out[row_id(rec["data_id"], str(path), line, "data_id")] = qtype
    return out


def read_infoseek_references(path: str | Path, qtypes_path: str | Path | None = None) -> list[InfoSeekReference]:
    """Read ``infoseek_val.jsonl`` (+ the qtype file, or a ``question_type`` in each row), validated."""
    from reag_harness.tasks.infoseek.metric import answer_range

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "references file not found")
    qtypes = _read_qtypes(Path(qtypes_path)) if qtypes_path is not None else None
    refs: list[InfoSeekReference] = []
    seen: dict[str, int | None] = {}
    for line, item, rec in _records(path):
        rec = _object(path, line, item, rec)
        w = _where(line, item)
        for name in ("data_id", "data_split", "answer_eval"):
            if name not in rec:
                raise InputError(str(path), f"{w}missing field", line=line, field=name)
        rid = row_id(rec["data_id"], str(path), line, "data_id")
        if rid in seen:
            raise InputError(str(path), f"{w}duplicate reference id {rid!r}", line=line, field="data_id")
        seen[rid] = line
        if qtypes is not None:
            if rid not in qtypes:
                raise InputError(str(path), f"{w}no question type for {rid!r} in {qtypes_path}", line=line,
                                 field="data_id")
            qtype = qtypes[rid]
        else:
            qtype = rec.get("question_type")
            if not isinstance(qtype, str) or qtype.lower() not in _INFOSEEK_TYPES:
                raise InputError(str(path), f"{w}no valid question type {qtype!r} (pass --qtypes "
                                 "infoseek_val_qtype.jsonl)", line=line, field="question_type")
        if not isinstance(rec["data_split"], str):
            raise InputError(str(path), f"{w}expected a string", line=line, field="data_split")
        answer_eval = rec["answer_eval"]
        if qtype.lower() == "numerical":
            try:
                answer_range(answer_eval)
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise InputError(str(path), f"{w}a NUMERICAL question needs a range ({exc})", line=line,
                                 field="answer_eval") from exc
        elif not (isinstance(answer_eval, list) and answer_eval and all(isinstance(a, str) for a in answer_eval)):
            raise InputError(str(path), f"{w}expected a non-empty list of strings", line=line, field="answer_eval")
        refs.append(InfoSeekReference(rid, rec["data_split"], qtype, answer_eval))
    return refs


@dataclass(frozen=True)
class EvqaReference:
    data_id: str
    question: str
    answer: str | list[str]
    question_type: str


def _evqa_reference(path: Path, line: int | None, item: int | None, rid: str, rec: Mapping[str, Any]) -> EvqaReference:
    w = _where(line, item)
    for name in ("question", "answer", "question_type"):
        if name not in rec or rec[name] is None:
            raise InputError(str(path), f"{w}missing field", line=line, field=name)
    if rec["question_type"] not in _EVQA_TYPES:
        raise InputError(str(path), f"{w}unknown question type {rec['question_type']!r} "
                         f"(valid: {', '.join(_EVQA_TYPES)})", line=line, field="question_type")
    answer = rec["answer"]
    if isinstance(answer, list):
        if not answer or not all(isinstance(a, str) for a in answer):
            raise InputError(str(path), f"{w}expected a string or a non-empty list of strings", line=line,
                             field="answer")
    elif not isinstance(answer, str) or not answer:
        raise InputError(str(path), f"{w}expected a non-empty string", line=line, field="answer")
    if not isinstance(rec["question"], str):
        raise InputError(str(path), f"{w}expected a string", line=line, field="question")
    return EvqaReference(rid, rec["question"], answer, rec["question_type"])


def read_evqa_references(path: str | Path) -> list[EvqaReference]:
    """Read EVQA references: the official CSV (row index = id) or JSON / JSONL with ``data_id``/``unique_id``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "references file not found")
    refs: list[EvqaReference] = []
    seen: set[str] = set()
    if path.suffix.lower() == ".csv":
        csv.field_size_limit(sys.maxsize)
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("question", "answer", "question_type") if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(str(path), "missing column", line=1, field=missing[0])
            start = reader.line_num + 1
            for index, row in enumerate(reader):
                refs.append(_evqa_reference(path, start, None, str(index), row))
                start = reader.line_num + 1
        return refs
    for line, item, rec in _records(path):
        rec = _object(path, line, item, rec)
        id_field = _first(rec, ("data_id", "unique_id", "id"))
        if id_field is None:
            raise InputError(str(path), f"{_where(line, item)}missing id", line=line, field="data_id")
        rid = row_id(rec[id_field], str(path), line, id_field)
        if rid in seen:
            raise InputError(str(path), f"{_where(line, item)}duplicate reference id {rid!r}", line=line,
                             field=id_field)
        seen.add(rid)
        refs.append(_evqa_reference(path, line, item, rid, rec))
    return refs
