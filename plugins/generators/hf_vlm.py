"""``hf-vlm``: any Hugging Face chat VLM (``AutoModelForImageTextToText``) as the generator.

``pretrained`` is a hub id, a local folder or ``tiny:<family>`` (a tiny random checkpoint of
that family, built offline on first use; see docs/models.md). The generation code is the
one every VLM generator shares (:class:`~.qwen_vl.QwenVLGenerator`); what differs between
families lives in :mod:`reag_harness.models.families`. Pixel bounds default to the family's
(``None``: the processor's own resizing).
"""

from __future__ import annotations

from typing import Any

from reag_harness.interfaces import Runtime

from .qwen_vl import QwenVLGenerator


class HFVLMGenerator(QwenVLGenerator):
    """Batched, left-padded generation with any chat VLM checkpoint (arguments as ``qwen-vl``'s)."""

    name = "hf-vlm"

    def __init__(
        self,
        runtime: Runtime,
        pretrained: str,
        max_new_tokens: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(runtime, pretrained=pretrained, max_new_tokens=max_new_tokens, min_pixels=min_pixels,
                         max_pixels=max_pixels, **kwargs)
