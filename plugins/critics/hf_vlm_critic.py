"""``hf-vlm-critic``: the ReAG critic prompt and full-vocabulary P("Yes") on any chat VLM.

A zero-shot critic baseline (e.g. ``pretrained=Qwen/Qwen2.5-VL-7B-Instruct``). The scoring
code is the ReAG critic's (:class:`~.qwen_critic.QwenVLCritic`); "Yes" is looked up in the
checkpoint's own tokenizer, right after its generation prompt, and a tokenizer that splits
it fails the run. Pixel bounds default to the family's.
"""

from __future__ import annotations

from typing import Any

from reag_harness.interfaces import Runtime

from .qwen_critic import QwenVLCritic


class HFVLMCritic(QwenVLCritic):
    """P("Yes") of the ReAG critic chat on any chat VLM checkpoint (arguments as ``reag-critic``'s)."""

    name = "hf-vlm-critic"

    def __init__(
        self,
        runtime: Runtime,
        pretrained: str,
        threshold: float | None = 0.5,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(runtime, pretrained=pretrained, threshold=threshold, min_pixels=min_pixels,
                         max_pixels=max_pixels, **kwargs)
