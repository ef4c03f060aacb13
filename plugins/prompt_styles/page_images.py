"""Several images in one prompt: the retrieved pages' images after the query image (CoRe-MMRAG's setting).

``page_images=FILE`` (any prompt style built on :class:`~.base.ReagPromptStyle`) names a JSON object
``{page key: image path}``; each distinct page of the kept passages that has an image adds an image
item, in the order of the passages, after the query image. Relative paths are read against the
file's folder. The generation cache covers the images' content (the runner digests every image of
a request).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from reag_harness.core.errors import HarnessError
from reag_harness.records import Passage


@lru_cache(maxsize=8)
def read_page_images(path: str) -> dict[str, str]:
    file = Path(path).expanduser()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"page_images={path}: cannot read the page-image map: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise HarnessError(f"page_images={path}: expected a JSON object {{page key: image path}}")
    return {str(k): str(v if Path(v).is_absolute() else file.parent / v) for k, v in data.items()}


def page_image_items(path: str, passages: Sequence[Passage] | None) -> list[dict[str, Any]]:
    """Image items of the kept passages' pages (each page once, in passage order)."""
    images = read_page_images(path)
    seen: list[str] = []
    for p in passages or ():
        if p.page_key in images and p.page_key not in seen:
            seen.append(p.page_key)
    return [{"type": "image", "image": images[key]} for key in seen]
