"""InternVL in Hugging Face format (``OpenGVLab/InternVL3-8B-hf``, model type ``internvl``).

The processor tiles an image into up to ``max_patches`` 448-pixel crops plus a thumbnail
and expands each image placeholder to ``<img>`` + 256 tokens per crop + ``</img>``.
"""

from __future__ import annotations

from .base import FamilyAdapter


class InternVL(FamilyAdapter):
    name = "internvl"
    model_types = ("internvl",)
