"""reag-harness: an evaluation harness for retrieval-augmented knowledge-based VQA."""

from __future__ import annotations

__all__ = ["evaluate"]


def evaluate(*args, **kwargs):
    """Run a pipeline and return its results (see :func:`reag_harness.api.evaluate`)."""
    from .api import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
