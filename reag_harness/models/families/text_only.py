"""Text-only causal LMs (``hf-llm``): the tokenizer's chat template over plain-string turns.

Each turn's text items are joined into one string (text LM templates such as Llama-3.1's
expect string content). A request that still carries an image is an error: the prompt
style must drop images explicitly (``text_only=true``; docs/models.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reag_harness.core.errors import HarnessError
from reag_harness.core.versions import doc_ref

from .base import FamilyAdapter


class TextOnly(FamilyAdapter):
    name = "text-only"

    def chat(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, str) or content is None:
                text = content or ""
            else:
                if any(item.get("type") == "image" or "image" in item for item in content):
                    raise HarnessError(
                        "a text-only generator got a request that carries an image; make the prompt style drop "
                        f"images explicitly (--prompt-style-args text_only=true), see {doc_ref('models.md')}")
                text = "".join(item.get("text", "") for item in content)
            out.append({**message, "content": text})
        return out

    def inputs(self, processor: Any, texts: list[str], images: list[list[Any]]) -> Any:
        return processor(texts, padding=True, return_tensors="pt",
                         add_special_tokens=self.add_special_tokens(processor, texts[0]))

    def image_tokens(self, processor: Any, sizes: Sequence[tuple[int, int]]) -> list[int]:
        return [0] * len(sizes)
