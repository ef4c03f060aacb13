"""Knowledge bases: the memory-mapped store, its streaming builder, passages, and a small in-memory KB."""

from __future__ import annotations

from .memory import InMemoryKB
from .store import KBStore, is_store, open_kb

__all__ = ["InMemoryKB", "KBStore", "is_store", "open_kb"]
