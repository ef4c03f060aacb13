"""Terminal output made inert: :func:`term_escape` for one field; every line the CLI prints goes through it.

Model names, file paths, error messages and plugin descriptions come from files, servers and
third-party code; a control character among them (an ANSI escape, a carriage return, a bidi mark)
is shown escaped (``\\x1b``), never interpreted by the terminal. Newlines and tabs are kept.
"""

from __future__ import annotations

from typing import Any, TextIO


def term_escape(text: Any) -> str:
    """A run field as inert terminal text: control characters (escape sequences, bidi marks) shown escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def term_text(text: Any) -> str:
    """``text`` for a terminal: each line (and tab-separated cell) through :func:`term_escape`."""
    return "\n".join("\t".join(term_escape(cell) for cell in line.split("\t")) for line in str(text).split("\n"))


class TermEscaped:
    """A text stream whose writes go through :func:`term_text` (``term_escape`` leaves escaped text as it is)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(term_text(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding, buffer, ...
        return getattr(self._stream, name)
