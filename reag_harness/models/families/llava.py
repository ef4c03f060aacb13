"""LLaVA-1.5 (``llava``) and LLaVA-OneVision (``llava_onevision``).

The llava-hf chat templates read typed content parts only (a plain string renders as
nothing) and put every image of a turn before its text; the base adapter's string-to-item
conversion is all they need. LLaVA-1.5 resizes to one fixed square; OneVision tiles large
images ("anyres"), so ``max_pixels`` bounds its token count.
"""

from __future__ import annotations

from .base import FamilyAdapter


class Llava(FamilyAdapter):
    name = "llava"
    model_types = ("llava", "llava_next")


class LlavaOneVision(FamilyAdapter):
    name = "llava-onevision"
    model_types = ("llava_onevision",)
    max_pixels = 1_605_632  # 2048 * 784: keeps the anyres tiling of a large photo bounded
