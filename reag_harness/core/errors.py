"""Errors the harness reports to users as one clear line (no traceback)."""

from __future__ import annotations


class HarnessError(Exception):
    """An error with a message meant for the user; the CLI prints it and exits 2."""

    exit_code = 2


class UnknownComponentError(HarnessError):
    """A component name that no plugin registered."""


class DuplicateComponentError(HarnessError):
    """Two plugins registered the same name for one kind."""


class InputError(HarnessError):
    """Bad input data: names the file, the line (1-based) and the field."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str | None = None) -> None:
        where = str(path) + (f":{line}" if line is not None else "")
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {message}".replace(": ", ": ", 1))
        self.path, self.line, self.field = str(path), line, field


class MissingDependencyError(HarnessError):
    """An optional extra is needed: the message says what to install."""
