"""Per-family adapters for the generic VLM path, chosen from ``config.model_type``.

To add a family: subclass :class:`FamilyAdapter` in a new module here, list its
``model_types`` and add it to ``ADAPTERS`` (see docs/models.md). A model type without an
adapter gets the default one (chat template + processor), which suits most chat VLMs.
"""

from __future__ import annotations

from .base import FamilyAdapter
from .blip2 import Blip2
from .gemma3 import Gemma3
from .idefics3 import Idefics3
from .internvl import InternVL
from .llava import Llava, LlavaOneVision
from .qwen import QwenVL

ADAPTERS: tuple[type[FamilyAdapter], ...] = (QwenVL, Llava, LlavaOneVision, InternVL, Idefics3, Gemma3, Blip2)

_BY_TYPE = {model_type: cls for cls in ADAPTERS for model_type in cls.model_types}


def adapter_for(model_type: str | None) -> FamilyAdapter:
    """The adapter of a ``config.model_type`` (the default adapter for unknown types)."""
    return _BY_TYPE.get(model_type or "", FamilyAdapter)()


__all__ = ["ADAPTERS", "FamilyAdapter", "adapter_for"]
