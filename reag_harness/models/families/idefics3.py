"""Idefics3 and SmolVLM: one image list per prompt; images split into tiles plus a global view."""

from __future__ import annotations

from .base import FamilyAdapter


class Idefics3(FamilyAdapter):
    name = "idefics3"
    model_types = ("idefics3", "smolvlm")
    nested_images = True
