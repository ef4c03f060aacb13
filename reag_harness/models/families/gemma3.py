"""Gemma-3: one image list per prompt; the template folds a system turn into the first user turn."""

from __future__ import annotations

from .base import FamilyAdapter


class Gemma3(FamilyAdapter):
    name = "gemma3"
    model_types = ("gemma3",)
    nested_images = True
