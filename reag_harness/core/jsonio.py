"""Reading JSON lines (with the ``jsonlines`` package) with errors that name the file and the line.

A line that is not JSON (or not UTF-8) raises :class:`~reag_harness.core.errors.InputError` naming the
file, the line and the column where the parser stopped; with ``on_bad_line`` the error is handed to
that callback instead and the line is skipped (``--on-error skip`` records it). A UTF-8 BOM at the
start of the file is accepted (an Excel export). ``NaN``, ``Infinity`` and numbers beyond float range
(``1e999``) are refused as malformed: JSON has no such values and no score may be one.
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import jsonlines

from .errors import InputError

BadLine = Callable[[InputError], None]


class NonFiniteNumber(ValueError):
    """A JSON text holds NaN, Infinity or a number beyond float range."""


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(f"non-finite number {name} (JSON has none; a score must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"number {text[:40]} is beyond float range (a score must be finite)")
    return value


def strict_loads(text: str | bytes) -> Any:
    """``json.loads`` refusing NaN, Infinity and out-of-range numbers (:class:`NonFiniteNumber`)."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)


def strict_decoder() -> json.JSONDecoder:
    """A ``JSONDecoder`` with the checks of :func:`strict_loads` (for ``raw_decode``)."""
    return json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


strict_load = partial(json.load, parse_constant=_refuse_constant, parse_float=_finite_float)
"""``json.load`` with the checks of :func:`strict_loads`."""


def line_error(path: str | Path, exc: jsonlines.InvalidLineError) -> InputError:
    """An InputError for a bad JSONL line: the real column for a JSON error, the byte for a UTF-8 one."""
    cause = exc.__cause__
    if isinstance(cause, NonFiniteNumber):
        what = f"malformed JSON line: {cause}"
    elif isinstance(cause, json.JSONDecodeError):
        what = f"malformed JSON line: {cause.msg} (column {cause.colno})"
    elif isinstance(cause, UnicodeDecodeError):
        what = f"not UTF-8 text: byte 0x{cause.object[cause.start]:02x} at byte {cause.start + 1} of the line"
    else:
        what = f"malformed JSON line: {exc.message.rsplit(' (line', 1)[0]}"
    return InputError(str(path), what, line=exc.lineno)


def parse_line(path: str | Path, line: int, raw: bytes) -> Any:
    """One JSONL line parsed as :func:`iter_jsonl` parses it, its errors worded the same (file and line)."""
    try:
        return strict_loads(raw.decode("utf-8"))
    except NonFiniteNumber as exc:
        raise InputError(str(path), f"malformed JSON line: {exc}", line=line) from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"malformed JSON line: {exc.msg} (column {exc.colno})", line=line) from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at byte {exc.start + 1} "
                         "of the line", line=line) from None


class _Counted:
    """The lines of a binary file, remembering the number of the last one handed out."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.line = fh, 0

    def __iter__(self) -> Iterator[bytes]:
        for raw in self.fh:
            self.line += 1
            yield raw


def iter_jsonl(path: str | Path, on_bad_line: BadLine | None = None) -> Iterator[tuple[int, Any]]:
    """``(line, object)`` for each non-blank line of a JSONL file; a bad line raises or goes to ``on_bad_line``."""
    with open(path, "rb") as fh:
        lines = _Counted(fh)
        reader = jsonlines.Reader(lines, loads=strict_loads)
        while True:
            try:
                obj = reader.read(skip_empty=True, allow_none=True)
            except EOFError:
                return
            except jsonlines.InvalidLineError as exc:
                error = line_error(path, exc)
                if on_bad_line is None:
                    raise error from None
                on_bad_line(error)
                continue
            yield lines.line, obj


def read_text(path: str | Path) -> str:
    """A whole text file as UTF-8 (a leading BOM dropped); bytes that are not UTF-8 name the line."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(str(path), f"not UTF-8 text: byte 0x{data[exc.start]:02x} at byte {column} of the line "
                         "(re-save the file as UTF-8)", line=line) from None
