"""Text-only causal LMs (``AutoModelForCausalLM`` + ``AutoTokenizer``) on the generic path.

The tokenizer plays the processor's part: it carries the :class:`~.families.text_only.TextOnly`
adapter (:func:`reag_harness.models.hf_loading.load_tokenizer`), so rendering, length sorting,
batching and decoding are those of :mod:`reag_harness.models.hf_prompts`. Models and tokenizers
are cached per process.
"""

from __future__ import annotations

from typing import Any

from .hf_loading import load_model, load_tokenizer
from .hf_vlm import resolve_pretrained


def load_llm(pretrained: str, device: str = "cpu", dtype: str = "float32", attn_implementation: str | None = None,
             model_max_length: int = 16384, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a text-only checkpoint (hub id, local folder or ``tiny:llama``)."""
    pretrained = resolve_pretrained(pretrained)
    model = load_model(pretrained, device, dtype, attn_implementation, "causal-lm", trust_remote_code)
    return model, load_tokenizer(pretrained, model_max_length, trust_remote_code)
