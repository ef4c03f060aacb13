"""Input problems found before the first stage: samples a loader flagged, query images that are not RGB."""

from __future__ import annotations

import sys
from typing import Any, Sequence

from ..data.input_checks import image_mode
from ..records import Sample


def count_image_modes(samples: Sequence[Sample]) -> dict[str, Any]:
    """PIL modes of the query images (header only): ``{"modes": {"RGB": n, "L": m}, "non_rgb": m, "_by_sample"}``.

    The reference converts EVQA images to RGB but not InfoSeek's; see docs/fidelity.md.
    """
    modes: dict[str, int] = {}
    by_sample: dict[str, str | None] = {}
    by_path: dict[str | None, str | None] = {}  # a shared image's header is read once
    for s in samples:
        if s.image in by_path:
            mode = by_path[s.image]
        else:
            mode = by_path[s.image] = image_mode(s.image)
        by_sample[s.id] = mode
        if mode is not None:
            modes[mode] = modes.get(mode, 0) + 1
    return {"modes": modes, "non_rgb": sum(n for m, n in modes.items() if m != "RGB"), "_by_sample": by_sample}


def record_input_errors(task: Any, samples: Sequence[Sample], errors: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Record in ``errors`` the samples a loader kept with ``meta["input_error"]`` (``--on-error skip``) and,
    when the task refuses them, non-RGB query images; return the image modes for results.json.

    The same for every retriever; lines skipped by the loader (malformed JSON) are reported too.
    """
    for s in samples:
        if s.meta.get("input_error"):
            errors[s.id] = ("input", str(s.meta["input_error"]))
    image_modes = count_image_modes(samples)
    if getattr(task, "non_rgb_images", "convert") == "error":
        for s, mode in image_modes.pop("_by_sample").items():
            if mode not in ("RGB", None) and s not in errors:
                errors[s] = ("input", f"query image mode {mode} is not RGB: answered 'Error' as the "
                                      "reference does with crop on (non_rgb_images=error)")
    image_modes.pop("_by_sample", None)
    skipped = list(getattr(task, "skipped_inputs", []) or [])
    if skipped:
        from ..core.terminal import term_text

        print(term_text(f"reag-eval: skipped {len(skipped)} malformed input line(s) (--on-error skip), "
                        f"e.g. {skipped[0]}"), file=sys.stderr)
    return image_modes
