"""Stream the members of one huge top-level JSON object without loading the whole file.

Built on ``json.JSONDecoder.raw_decode`` (the C scanner) over a buffered, incrementally decoded
reader: memory stays at about the largest single member plus one read block, whatever the file
size. Used to convert the published KB JSON (a dict keyed by Wikipedia URL, 2M pages for EVQA).
"""

from __future__ import annotations

import codecs
import hashlib
import json
from typing import Any, BinaryIO, Iterator

from ...core.errors import InputError

_WS = " \t\n\r"
_decoder = json.JSONDecoder()


class ObjectStream:
    """Iterate ``(key, value, line)`` over the top-level object of a JSON file.

    ``line`` is the 1-based line where the member's key starts. ``digest`` is the sha256 of every
    byte read (the whole file once iteration ends). Syntax errors raise :class:`InputError` with the
    file, the line and the column.
    """

    def __init__(self, path: str, block_chars: int = 1 << 23) -> None:
        self.path = path
        self.block_chars = block_chars
        self._hash = hashlib.sha256()
        self._bytes_read = 0
        self._f: BinaryIO | None = None
        self._dec = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._pos = 0
        self._line = 1  # line number at self._buf[self._line_pos]
        self._line_pos = 0
        self._dropped = 0  # characters dropped from the front of the buffer so far
        self._last_nl = -1  # absolute position of the last newline among the dropped characters
        self._eof = False

    @property
    def digest(self) -> str:
        return self._hash.hexdigest()

    @property
    def bytes_read(self) -> int:
        return self._bytes_read

    # -- buffer ------------------------------------------------------------------------------------
    def _read_more(self, at_least: int = 0) -> bool:
        """Append at least one block (or ``at_least`` chars) to the buffer; False at end of file."""
        if self._eof:
            return False
        assert self._f is not None
        # Drop the consumed prefix so the buffer holds one member plus a block.
        if self._pos:
            self._line_of(self._pos)
            nl = self._buf.rfind("\n", 0, self._pos)
            if nl >= 0:
                self._last_nl = self._dropped + nl
            self._dropped += self._pos
            self._buf = self._buf[self._pos :]
            self._line_pos -= self._pos
            self._pos = 0
        want = max(self.block_chars, at_least)
        parts = [self._buf]
        got = 0
        while got < want:
            raw = self._f.read(want)
            if not raw:
                try:
                    tail = self._dec.decode(b"", final=True)
                except UnicodeDecodeError as exc:
                    raise InputError(self.path, f"not valid UTF-8: {exc.reason}", line=self._line) from exc
                parts.append(tail)
                got += len(tail)
                self._eof = True
                break
            self._hash.update(raw)
            self._bytes_read += len(raw)
            try:
                text = self._dec.decode(raw)
            except UnicodeDecodeError as exc:
                raise InputError(self.path, f"not valid UTF-8: {exc.reason}", line=self._line) from exc
            parts.append(text)
            got += len(text)
        self._buf = "".join(parts)
        return got > 0

    def _skip_ws(self) -> str:
        """Skip whitespace and return the next character ('' at end of file)."""
        while True:
            buf, pos = self._buf, self._pos
            n = len(buf)
            while pos < n and buf[pos] in _WS:
                pos += 1
            self._pos = pos
            if pos < n:
                return buf[pos]
            if not self._read_more():
                return ""

    def _line_of(self, pos: int) -> int:
        """The line at ``pos`` (counted incrementally: positions only move forward)."""
        if pos > self._line_pos:
            self._line += self._buf.count("\n", self._line_pos, pos)
            self._line_pos = pos
        return self._line

    def _where(self, pos: int) -> tuple[int, int]:
        """(line, column) of ``pos``, for error messages."""
        if pos >= self._line_pos:
            line = self._line_of(pos)
        else:
            line = self._line - self._buf.count("\n", pos, self._line_pos)
        last = self._buf.rfind("\n", 0, pos)
        if last < 0:  # the line began before the buffer: count from the last dropped newline
            return line, self._dropped + pos - self._last_nl
        return line, pos - last

    def _fail(self, pos: int, message: str, field: str | None = None) -> InputError:
        line, col = self._where(pos)
        return InputError(self.path, f"{message} (column {col})", line=line, field=field)

    def _decode(self, what: str) -> Any:
        """raw_decode one value at the cursor, reading more until it is complete."""
        while True:
            try:
                value, end = _decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                incomplete = exc.msg.startswith("Unterminated string") or exc.pos >= len(self._buf) - 16
                if incomplete and self._read_more(at_least=len(self._buf)):
                    continue
                raise self._fail(exc.pos, f"malformed JSON in {what}: {exc.msg}") from exc
            # A number (or literal) that touches the end of the buffer may continue in the next block.
            if end >= len(self._buf) and not self._eof and self._read_more():
                continue
            self._pos = end
            return value

    # -- iteration ---------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[str, Any, int]]:
        with open(self.path, "rb") as f:
            self._f = f
            first = self._skip_ws()
            if first == "\ufeff":
                self._pos += 1
                first = self._skip_ws()
            if first != "{":
                raise self._fail(self._pos, "a knowledge base must be one JSON object keyed by Wikipedia URL")
            self._pos += 1
            ch = self._skip_ws()
            if ch == "}":
                self._pos += 1
                yield from ()
            else:
                while True:
                    if ch != '"':
                        raise self._fail(self._pos, f"expected a key string, found {ch or 'end of file'!r}")
                    line = self._line_of(self._pos)
                    key = self._decode("a key")
                    if self._skip_ws() != ":":
                        raise self._fail(self._pos, f"expected ':' after key {key!r}")
                    self._pos += 1
                    if not self._skip_ws():
                        raise self._fail(self._pos, f"unexpected end of file in the value of {key!r}")
                    value = self._decode(f"the value of {key!r}")
                    yield key, value, line
                    ch = self._skip_ws()
                    if ch == ",":
                        self._pos += 1
                        ch = self._skip_ws()
                        continue
                    if ch == "}":
                        self._pos += 1
                        break
                    found = ch or "end of file"
                    raise self._fail(self._pos, f"expected ',' or '}}' after the value of {key!r}, found {found!r}")
            if self._skip_ws():
                raise self._fail(self._pos, "extra data after the top-level object")
            self._f = None
