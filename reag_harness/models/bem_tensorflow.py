"""TensorFlow and tensorflow-text for BEM (the EVQA answer-equivalence model), imported on first use only."""

from __future__ import annotations

from typing import Any

from reag_harness.core.errors import MissingDependencyError

INSTALL_HINT = "pip install 'reag-harness[evqa]'"


def require_tensorflow() -> tuple[Any, Any]:
    """Import ``tensorflow`` and ``tensorflow_text`` or raise MissingDependencyError naming the pip command."""
    try:
        import triton  # noqa: F401  # triton loaded *after* TensorFlow segfaults (torch 2.14 + TF 2.21): load it first
    except ImportError:
        pass
    from reag_harness.core.quiet import native_stderr_silenced

    try:
        with native_stderr_silenced():  # TensorFlow's start-up chatter, unless -v
            import tensorflow as tf
            import tensorflow_text as text
    except ImportError as exc:
        raise MissingDependencyError(
            f"EVQA scoring with BEM needs TensorFlow and tensorflow-text ({exc.name} is missing): "
            f"{INSTALL_HINT}  (or pass --no-bem for the exact-match lower bound)"
        ) from exc
    return tf, text
