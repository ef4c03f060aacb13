"""Qwen2-VL and Qwen2.5-VL: the image processor resizes to ``min_pixels <= h*w <= max_pixels``."""

from __future__ import annotations

from typing import Any

from .base import FamilyAdapter


class QwenVL(FamilyAdapter):
    """Pixel bounds go to the image processor (multiples of 28); the defaults are ReAG's."""

    name = "qwen-vl"
    model_types = ("qwen2_vl", "qwen2_5_vl")
    min_pixels = 3136
    max_pixels = 301056
    bounds_in_processor = True

    def configure(self, processor: Any, min_pixels: int | None, max_pixels: int | None) -> None:
        from transformers.image_utils import SizeDict

        # Set after loading: a ``size=`` kwarg would lose against the ``min_pixels``/``max_pixels``
        # keys of older preprocessor configs (ReAG's).
        size = processor.image_processor.size
        lo = int(min_pixels) if min_pixels is not None else size.shortest_edge
        hi = int(max_pixels) if max_pixels is not None else size.longest_edge
        processor.image_processor.size = SizeDict(shortest_edge=lo, longest_edge=hi)

    def prepare_image(self, image: Any, min_pixels: int | None, max_pixels: int | None) -> Any:
        return image  # the image processor applies the bounds itself
