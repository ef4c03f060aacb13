"""Predict-only runs: the predictions in the task's official submission format.

InfoSeek's official scorer (``infoseek_eval.py``) and evaluation server read JSON lines with exactly
``data_id`` (the question's id) and ``prediction`` (a string); EVQA's ``reag-eval score`` /
official-scorer input is the same pair keyed by the question's id (the CSV row index). A task may
define ``submission_rows(samples, answers)`` and ``submission_name`` to write another format. A
failed sample (no answer) is written as ``""``: the official InfoSeek code crashes on ``null``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import HarnessError
from ..records import Sample

SUBMISSION_FIELDS = ("data_id", "prediction")
DEFAULT_NAME = "predictions.jsonl"


def submission_rows(task: Any, samples: Sequence[Sample], answers: Sequence[str | None]) -> list[dict[str, Any]]:
    custom = getattr(task, "submission_rows", None)
    if callable(custom):
        return list(custom(samples, answers))
    return [{"data_id": s.id, "prediction": "" if a is None else str(a)} for s, a in zip(samples, answers, strict=True)]


def write_submission(folder: Path, task: Any, samples: Sequence[Sample], answers: Sequence[str | None]) -> Path:
    """Write the submission file beside the run's samples (temp file + rename); returns its path."""
    path = folder / str(getattr(task, "submission_name", DEFAULT_NAME))
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in submission_rows(task, samples, answers):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def check_submission(path: str | Path, ids: Sequence[str]) -> list[str]:
    """Problems of a ``{data_id, prediction}`` JSONL file against the expected ids (empty list: valid)."""
    problems, seen = [], set()
    for line, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(raw)
        if not isinstance(row, dict) or sorted(row) != sorted(SUBMISSION_FIELDS):
            problems.append(f"{path}:{line}: expected exactly the fields {', '.join(SUBMISSION_FIELDS)}")
            continue
        if not isinstance(row["prediction"], str):
            problems.append(f"{path}:{line}: field 'prediction' must be a string")
        if row["data_id"] in seen:
            problems.append(f"{path}:{line}: field 'data_id' duplicate {row['data_id']!r}")
        seen.add(row["data_id"])
    missing = [i for i in ids if i not in seen]
    if missing:
        problems.append(f"{path}: {len(missing)} ids have no prediction (e.g. {missing[0]!r})")
    return problems


def predict_only_mode(flag: bool, samples: Sequence[Sample], task_name: str) -> bool:
    """Predict-only when asked, or when no sample has references; a mix is an error, never scored silently."""
    samples = [s for s in samples if not s.meta.get("input_error")]  # kept with an input error: judged apart
    without = sum(1 for s in samples if not s.references)
    if flag or (samples and without == len(samples)):
        return True
    if without:
        raise HarnessError(f"task '{task_name}': {without} of {len(samples)} samples have no references; "
                           "score only splits with references, or pass --predict-only to write a submission file")
    return False
