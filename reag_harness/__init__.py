"""reag-harness: an evaluation harness for retrieval-augmented knowledge-based VQA.

The packages and their layers: docs/architecture.md. Plugin authors import ``reag_harness.hookspecs``,
``.interfaces``, ``.records`` and ``.api``; the module paths of the flat layout before the package
restructure still import (:mod:`reag_harness.core.moved`, with a DeprecationWarning).
"""

from __future__ import annotations

from .core import moved as _moved

_moved.install()

__all__ = ["evaluate"]


def evaluate(*args, **kwargs):
    """Run a pipeline and return its results (see :func:`reag_harness.api.evaluate`)."""
    from .api import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
