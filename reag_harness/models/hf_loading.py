"""Loading Hugging Face models, processors and tokenizers, each read from disk once per process.

A checkpoint used by both the critic and the generator (or built twice by the runner) loads
once: models are cached by (path, device, dtype, attention, auto class, remote code), processors
and tokenizers by (path, options). A processor remembers its family adapter and image bounds
(:class:`Family`), so the prompt helpers of :mod:`reag_harness.models.hf_prompts` take only the
processor; a text-only checkpoint's tokenizer plays the processor's part with the
:class:`~reag_harness.models.families.text_only.TextOnly` adapter.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from typing import Any

from reag_harness.core.errors import HarnessError

from .families import FamilyAdapter, adapter_for
from .families.text_only import TextOnly
from .hf_checkpoints import model_type, resolve_checkpoint

DTYPES = ("float32", "bfloat16", "float16", "auto")
AUTO_CLASSES = {"vlm": "AutoModelForImageTextToText", "causal-lm": "AutoModelForCausalLM"}

_LOCK = threading.Lock()
_MODELS: dict[tuple[Any, ...], Any] = {}
_PROCESSORS: dict[tuple[Any, ...], Any] = {}
_TOKENIZER_LOCK = threading.Lock()
_TOKENIZERS: dict[tuple[Any, ...], Any] = {}
LOAD_COUNTS: dict[str, int] = {"model": 0, "processor": 0}
"""How many times a model / processor (or tokenizer) was actually read from disk in this process."""


@dataclass(frozen=True)
class Family:
    """What the helpers need to know about a loaded processor: its adapter and the user's image bounds."""

    adapter: FamilyAdapter
    min_pixels: int | None = None
    max_pixels: int | None = None


def _torch_dtype(dtype: str) -> Any:
    import torch

    if dtype not in DTYPES:
        raise HarnessError(f"unknown dtype '{dtype}': use one of {', '.join(DTYPES)}")
    return "auto" if dtype == "auto" else getattr(torch, dtype)


def default_attn_implementation(device: str) -> str:
    """flash-attention 2 on CUDA when ``flash_attn`` is importable, else sdpa."""
    if device.startswith("cuda"):
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def _check_local(pretrained: str, resolved: str) -> None:
    """A path-like name (``/x``, ``./x``, ``~/x``) must be an existing folder: say so, don't ask the hub."""
    name = str(pretrained)
    if name.startswith(("/", "./", "../", "~")) and not os.path.isdir(resolved):
        raise HarnessError(f"no checkpoint folder at '{name}' (pretrained= takes a local folder or a hub id)")


def _load_failure(pretrained: str, resolved: str, exc: Exception) -> HarnessError:
    hint = "" if os.path.isdir(resolved) else (
        ". It is neither a local folder nor in the Hugging Face cache (offline?): download it and pass "
        "pretrained=/path/to/checkpoint"
    )
    return HarnessError(f"could not load checkpoint '{pretrained}': {exc}{hint}")


def _config_model_type(resolved: str, trust_remote_code: bool) -> str | None:
    """``model_type`` through ``AutoConfig`` (a hub id just downloaded by ``from_pretrained``)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(resolved, trust_remote_code=trust_remote_code).model_type
    except (OSError, ValueError):
        return None


# ---- models -----------------------------------------------------------------------------------


def _model_key(resolved: str, device: str, dtype: str, attn: str, kind: str, trust_remote_code: bool) -> tuple:
    return (resolved, device, dtype, attn, kind, bool(trust_remote_code))


def load_model(pretrained: str, device: str = "cpu", dtype: str = "float32", attn_implementation: str | None = None,
               kind: str = "vlm", trust_remote_code: bool = False) -> Any:
    """The model of a checkpoint through ``AutoModelForImageTextToText`` (``kind="vlm"``) or
    ``AutoModelForCausalLM`` (``kind="causal-lm"``), cached by (path, device, dtype, attention, kind)."""
    resolved, _ = resolve_checkpoint(pretrained)
    _check_local(pretrained, resolved)
    attn = attn_implementation or default_attn_implementation(device)
    key = _model_key(resolved, device, dtype, attn, kind, trust_remote_code)
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _load_model(resolved, pretrained, device, dtype, attn, kind, trust_remote_code)
            _MODELS[key] = model
    return model


def loaded_model(pretrained: str, device: str, dtype: str, attn: str, kind: str, trust_remote_code: bool) -> Any:
    """The model :func:`load_model` holds for these settings, or None when it was not loaded in this process."""
    resolved, _ = resolve_checkpoint(pretrained)
    return _MODELS.get(_model_key(resolved, device, dtype, attn, kind, trust_remote_code))


def _load_model(resolved: str, pretrained: str, device: str, dtype: str, attn: str, kind: str,
                trust_remote_code: bool) -> Any:
    import torch
    import transformers

    auto = getattr(transformers, AUTO_CLASSES[kind])
    kwargs: dict[str, Any] = {"dtype": _torch_dtype(dtype), "attn_implementation": attn}
    if trust_remote_code:
        kwargs["trust_remote_code"] = True
    if device != "cpu" and importlib.util.find_spec("accelerate") is not None:
        kwargs["device_map"] = torch.device(device)  # load straight onto the GPU
    from .strict_load import strict_from_pretrained

    try:  # missing / unexpected / shape-mismatched weights are an error naming the keys
        model = strict_from_pretrained(auto, resolved, "checkpoint", **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_failure(pretrained, resolved, exc) from exc
    LOAD_COUNTS["model"] += 1
    return model.to(device).eval()


# ---- processors and tokenizers --------------------------------------------------------------------


def load_processor(pretrained: str, min_pixels: int | None = None, max_pixels: int | None = None,
                   model_max_length: int = 16384, trust_remote_code: bool = False) -> Any:
    """The checkpoint's processor, padding on the left, its family adapter attached; cached per process.

    ``min_pixels``/``max_pixels`` None take the family's defaults (Qwen-VL: ReAG's 3136 / 301056).
    """
    resolved, _ = resolve_checkpoint(pretrained)
    _check_local(pretrained, resolved)
    key = (resolved, min_pixels, max_pixels, int(model_max_length), bool(trust_remote_code))
    with _LOCK:
        processor = _PROCESSORS.get(key)
        if processor is None:
            processor = _load_processor(resolved, pretrained, min_pixels, max_pixels, model_max_length,
                                        trust_remote_code)
            _PROCESSORS[key] = processor
    return processor


def _load_processor(resolved: str, pretrained: str, min_pixels: int | None, max_pixels: int | None,
                    model_max_length: int, trust_remote_code: bool) -> Any:
    from transformers import AutoProcessor

    kwargs: dict[str, Any] = {"model_max_length": model_max_length}
    if trust_remote_code:
        kwargs["trust_remote_code"] = True
    try:
        processor = AutoProcessor.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_failure(pretrained, resolved, exc) from exc
    adapter = adapter_for(model_type(resolved) or _config_model_type(resolved, trust_remote_code))
    lo = adapter.min_pixels if min_pixels is None else int(min_pixels)
    hi = adapter.max_pixels if max_pixels is None else int(max_pixels)
    adapter.configure(processor, lo, hi)
    tokenizer_of(processor).padding_side = "left"
    processor.reag_family = Family(adapter, lo, hi)
    LOAD_COUNTS["processor"] += 1
    return processor


def load_tokenizer(pretrained: str, model_max_length: int = 16384, trust_remote_code: bool = False) -> Any:
    """The checkpoint's tokenizer, padding on the left (pad = EOS when it has none), text-only adapter attached."""
    resolved, _ = resolve_checkpoint(pretrained)
    _check_local(pretrained, resolved)
    key = (resolved, int(model_max_length), bool(trust_remote_code))
    with _TOKENIZER_LOCK:
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


def tokenizer_of(processor: Any) -> Any:
    """The tokenizer of a processor (a text-only checkpoint's "processor" is its tokenizer)."""
    return getattr(processor, "tokenizer", processor)


def family_of(processor: Any) -> Family:
    """The family a processor was loaded with (the default adapter for one loaded elsewhere)."""
    family = getattr(processor, "reag_family", None)
    return family if isinstance(family, Family) else Family(FamilyAdapter())


def clear_cache() -> None:
    """Forget every loaded model, processor and tokenizer (frees memory once no component holds them)."""
    with _LOCK:
        _MODELS.clear()
        _PROCESSORS.clear()
    with _TOKENIZER_LOCK:
        _TOKENIZERS.clear()
