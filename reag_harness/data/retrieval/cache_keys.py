"""Short stable keys for retrieval caches: a digest of any JSON-able value, and a knowledge base's fingerprint."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ...interfaces import KnowledgeBase


def digest(obj: Any) -> str:
    """16 hex digits of the SHA-256 of ``obj`` as sorted JSON (non-JSON values by ``str``)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def kb_fingerprint(kb: KnowledgeBase) -> str:
    """The KB's own ``fingerprint()``, else a digest of its keys and titles."""
    fp = getattr(kb, "fingerprint", None)
    return str(fp()) if callable(fp) else digest([[k, kb.title(k)] for k in kb.keys()])
