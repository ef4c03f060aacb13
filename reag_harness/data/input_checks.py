"""Naming bad input: which query file, line and sample a failure belongs to.

Model components see image paths, not samples; when a batch fails, the runner asks
:func:`image_culprit` which sample's image is unreadable, and reports it with the query file,
line and sample id instead of a library traceback.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..core.errors import InputError
from ..records import Sample


def image_problem(path: str | None) -> str | None:
    """Why the image at ``path`` cannot be read (None when it can, or when there is no image)."""
    if not path:
        return None
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - PIL comes with every model extra
        return None
    try:
        with Image.open(path) as im:
            im.load()
    except FileNotFoundError:
        return "image file not found"
    except Exception as exc:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ValueError ...
        return f"unreadable image ({type(exc).__name__}: {exc})"
    return None


def image_mode(path: str | None) -> str | None:
    """The PIL mode of an image file from its header (None when there is no readable image)."""
    if not path:
        return None
    try:
        from PIL import Image

        with Image.open(path) as im:
            return str(im.mode)
    except Exception:
        return None


def sample_error(sample: Sample, message: str, field: str | None = None) -> InputError:
    """An InputError at the sample's query file and line, naming the sample id."""
    meta = sample.meta or {}
    source = str(meta.get("source_file") or f"sample {sample.id}")
    return InputError(source, f"sample {sample.id!r}: {message}", line=meta.get("source_line"), field=field)


def image_culprit(items: Sequence[Any], sample_of: Callable[[Any], Sample]) -> InputError | None:
    """The first sample of ``items`` whose image cannot be read, as an InputError (None if all read)."""
    checked: set[str] = set()
    for item in items:
        sample = sample_of(item)
        if not sample.image or sample.image in checked:
            continue
        checked.add(sample.image)
        problem = image_problem(sample.image)
        if problem is not None:
            return sample_error(sample, f"image {sample.image}: {problem}", field="image")
    return None
