"""BLIP-2: no chat template; the plain ``Question: ... Answer:`` prompt of its VQA evaluation.

The text of every turn (a system turn first, then the user's) is joined with newlines and
wrapped as ``Question: {text} Answer:``; the processor prepends the Q-Former's query tokens
and the tokenizer its BOS. BLIP-2 needs an image in every prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import FamilyAdapter

PROMPT = "Question: {text} Answer:"


class Blip2(FamilyAdapter):
    name = "blip-2"
    model_types = ("blip-2",)
    text_only_prompts = False

    def render(self, processor: Any, messages: Sequence[Mapping[str, Any]]) -> str:
        parts = [item.get("text", "") for message in self.chat(messages) for item in message["content"]
                 if item.get("type") == "text"]
        return PROMPT.format(text="\n".join(p for p in parts if p))

    def image_tokens(self, processor: Any, sizes: Sequence[tuple[int, int]]) -> list[int]:
        return [int(processor.num_query_tokens or 0)] * len(sizes)

    def placeholders_per_image(self) -> int:
        return 0  # the query tokens are added by the processor, not written in the text
