"""Links on the generated pages: only ``http(s)`` URLs or relative paths, never another scheme.

A run folder named ``javascript:alert(1)`` must not become a ``javascript:`` link, nor a
``file:`` / ``data:`` URL reach an ``href`` or ``src``. Relative paths are percent-encoded, so a
``:`` (or ``#``, ``?``) in a folder name stays part of the path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def relative_href(target: Path | str, page_dir: Path) -> str | None:
    """``target`` as a percent-encoded path relative to ``page_dir``; None where none exists (another drive)."""
    try:
        rel = Path(os.path.relpath(Path(target).resolve(), page_dir.resolve())).as_posix()
    except ValueError:
        return None
    return quote(rel, safe="/")


def safe_url(url: object) -> str | None:
    """``url`` if it is an ``http(s)`` URL or a relative path (no scheme, not ``//host``), else None."""
    text = str(url or "")
    if not text or text != text.strip() or any(ord(c) < 32 or ord(c) == 127 for c in text):
        return None
    if text.lower().startswith(("http://", "https://")):
        return text
    if _SCHEME.match(text) or text.startswith(("//", "\\\\")):
        return None
    return text
