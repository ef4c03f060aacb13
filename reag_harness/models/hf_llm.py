"""Text-only causal LMs (``AutoModelForCausalLM`` + ``AutoTokenizer``) on the generic path.

The tokenizer plays the processor's part: it carries the :class:`~.families.text_only.TextOnly`
adapter, so rendering, length sorting, batching and decoding are those of
:mod:`reag_harness.models.hf_vlm`. Models and tokenizers are cached per process.
"""

from __future__ import annotations

import threading
from typing import Any

from .families.text_only import TextOnly
from .hf_vlm import (
    LOAD_COUNTS,
    Family,
    _check_local,
    _load_failure,
    load_model,
    resolve_checkpoint,
    resolve_pretrained,
)

_LOCK = threading.Lock()
_TOKENIZERS: dict[tuple[Any, ...], Any] = {}


def load_tokenizer(pretrained: str, model_max_length: int = 16384, trust_remote_code: bool = False) -> Any:
    """The checkpoint's tokenizer, padding on the left (pad = EOS when it has none), text-only adapter attached."""
    resolved, _ = resolve_checkpoint(pretrained)
    _check_local(pretrained, resolved)
    key = (resolved, int(model_max_length), bool(trust_remote_code))
    with _LOCK:
        tokenizer = _TOKENIZERS.get(key)
        if tokenizer is None:
            from transformers import AutoTokenizer

            kwargs: dict[str, Any] = {"model_max_length": model_max_length}
            if trust_remote_code:
                kwargs["trust_remote_code"] = True
            try:
                tokenizer = AutoTokenizer.from_pretrained(resolved, **kwargs)
            except (OSError, ValueError) as exc:
                raise _load_failure(pretrained, resolved, exc) from exc
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:  # Llama-3.1 has none; padded positions are masked anyway
                tokenizer.pad_token = tokenizer.eos_token
            tokenizer.reag_family = Family(TextOnly())
            LOAD_COUNTS["processor"] += 1
            _TOKENIZERS[key] = tokenizer
    return tokenizer


def load_llm(pretrained: str, device: str = "cpu", dtype: str = "float32", attn_implementation: str | None = None,
             model_max_length: int = 16384, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a text-only checkpoint (hub id, local folder or ``tiny:llama``)."""
    pretrained = resolve_pretrained(pretrained)
    model = load_model(pretrained, device, dtype, attn_implementation, "causal-lm", trust_remote_code)
    return model, load_tokenizer(pretrained, model_max_length, trust_remote_code)


def clear_cache() -> None:
    with _LOCK:
        _TOKENIZERS.clear()
