"""Type and domain checks for values read from file rows (query files, rankings, scores, run logs).

Each check returns the value (ids as ``str``) or raises :class:`~reag_harness.core.errors.InputError`
naming the file, line and field; callers under ``--on-error skip`` record that error for the row.
Nothing is coerced: a bool is not a number, a float or a list is not an id, ``"0.5"`` is not a score,
and NaN / Infinity are no scores at all (:mod:`reag_harness.core.jsonio` refuses them while parsing).
"""

from __future__ import annotations

import math
from typing import Any

from .errors import InputError


def _fail(path: str, line: int | None, field: str, what: str, value: Any) -> InputError:
    return InputError(str(path), f"{what}, got {type(value).__name__} {value!r:.60}", line=line, field=field)


def row_id(value: Any, path: str, line: int | None = None, field: str = "id") -> str:
    """An id: a non-empty string or an int (not a bool), returned as a string."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise _fail(path, line, field, "an id must be a non-empty string or an integer", value)
    return str(value)


def text(value: Any, path: str, line: int | None = None, field: str = "text") -> str:
    """A string."""
    if not isinstance(value, str):
        raise _fail(path, line, field, "must be a string", value)
    return value


def score(value: Any, path: str, line: int | None = None, field: str = "score") -> float:
    """A finite number (int or float, not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(path, line, field, "a score must be a finite number", value)
    return float(value)


def probability(value: Any, path: str, line: int | None = None, field: str = "p_yes") -> float:
    """A finite number within [0, 1]."""
    p = score(value, path, line, field)
    if not 0.0 <= p <= 1.0:
        raise _fail(path, line, field, "a probability must lie within [0, 1]", value)
    return p


def index(value: Any, path: str, line: int | None = None, field: str = "index") -> int:
    """A non-negative int (not a bool, not a float)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, line, field, "an index must be a non-negative integer", value)
    return value
