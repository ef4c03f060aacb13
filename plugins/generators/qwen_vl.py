"""The VLM generator on the generic path (Qwen2.5-VL first, any chat VLM through ``hf-vlm``).

:class:`QwenVLGenerator` is the transformers / vLLM generator for every family of
:mod:`reag_harness.models.hf_vlm` (the family adapter does what differs); this module
registers it for the Qwen2.5-VL checkpoints (ReAG-3B/7B, Qwen2.5-VL-3B/7B-Instruct, a tiny
one) with ReAG's pixel bounds, and :mod:`.hf_vlm` as ``hf-vlm`` with each family's defaults.

``generate`` returns only the newly generated text: the request's ``assistant_prefix`` (e.g.
ReAG's forced ``<think>``) is part of the prompt and is NOT repeated in the output. Output is
cut right after the first stop string, which is kept (so ``</answer>`` can be parsed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Runtime
from reag_harness.models.batching import OnBatch, resolve_batch_tokens, sorted_batches
from reag_harness.models.hf_loading import load_processor, tokenizer_of
from reag_harness.models.hf_prompts import check_prompt_lengths, max_positions
from reag_harness.models.qwen_vl import (
    QWEN_MAX_PIXELS,
    QWEN_MIN_PIXELS,
    Prompt,
    QwenVLComponent,
    batch_inputs,
    prompt_length,
    render,
    truncate_at_stop,
)
from reag_harness.prompts.budget import POLICIES
from reag_harness.records import ChatRequest

DEFAULT_MAX_NEW_TOKENS = 4096


class QwenVLGenerator(QwenVLComponent):
    """Batched generation with a VLM checkpoint (hub id, local folder or ``tiny:<family>``).

    Requests are grouped by (stop strings, max_new_tokens), sorted by prompt length, batched
    with left padding and returned in input order. Decoding follows the checkpoint's
    ``generation_config.json`` (greedy unless it says otherwise); ``gen_kwargs`` (e.g.
    ``do_sample=True, temperature=0.7``) override it. ``batch_size=None`` takes the runtime's;
    ``"auto"`` starts at 32 and halves on CUDA out-of-memory. ``backend="vllm"`` runs the
    same requests through vLLM (optional extra). ``max_new_tokens=None`` takes the
    checkpoint's ``generation_config.max_new_tokens``, else 4096; a request's own limit wins.
    ``trust_remote_code=True`` is needed only for hub checkpoints that ship modelling code.

    Every model batch holds at most ``max_batch_tokens`` prompt tokens (``"auto"``: the
    device default of :func:`reag_harness.models.batching.default_batch_tokens`). Prompts
    are bounded by ``max_prompt_tokens`` (``"auto"``: the model's context length minus
    ``max_new_tokens``, at most ``model_max_length``, the reference's 16384) under
    ``prompt_policy`` (``truncate`` drops the last passages, ``error`` records the sample as an error):
    the runner fits each request before generating (:mod:`reag_harness.prompts.budget`); a longer
    prompt given directly is an error.
    """

    name = "qwen-vl"
    version = "1"
    kind = "generator"
    auto_batch_start = 32
    identity_excludes = ("batch_size", "gpu_memory_utilization", "max_batch_tokens", "max_prompt_tokens",
                         "prompt_policy")  # the prompt hash in the generate cache already covers truncation

    def __init__(
        self,
        runtime: Runtime,
        pretrained: str,
        max_new_tokens: int | None = None,
        batch_size: int | str | None = None,
        backend: str = "transformers",
        min_pixels: int | None = QWEN_MIN_PIXELS,
        max_pixels: int | None = QWEN_MAX_PIXELS,
        model_max_length: int = 16384,
        attn_implementation: str | None = None,
        gpu_memory_utilization: float | None = None,
        max_batch_tokens: int | str = "auto",
        max_prompt_tokens: int | str | None = "auto",
        prompt_policy: str = "truncate",
        trust_remote_code: bool = False,
        **gen_kwargs: Any,
    ) -> None:
        remote = {"trust_remote_code": True} if trust_remote_code else {}  # absent when off: old cache keys hold
        super().__init__(runtime, pretrained=pretrained, max_new_tokens=max_new_tokens, batch_size=batch_size,
                         backend=backend, min_pixels=min_pixels, max_pixels=max_pixels,
                         model_max_length=model_max_length, attn_implementation=attn_implementation,
                         gpu_memory_utilization=gpu_memory_utilization, max_batch_tokens=max_batch_tokens,
                         max_prompt_tokens=max_prompt_tokens, prompt_policy=prompt_policy, **remote, **gen_kwargs)
        self.setup_vlm(pretrained, batch_size, backend, min_pixels, max_pixels, model_max_length,
                       attn_implementation, gpu_memory_utilization, trust_remote_code)
        self.max_new_tokens = None if max_new_tokens is None else int(max_new_tokens)
        self.gen_kwargs = dict(gen_kwargs)
        self.max_batch_tokens = resolve_batch_tokens(max_batch_tokens, runtime.device)
        self._prompt_bound_arg = max_prompt_tokens
        self._bound: tuple[int | None] | None = None  # resolved on first use (reads the config)
        _prompt_bound(max_prompt_tokens, int(model_max_length))  # a bad value fails at construction
        if prompt_policy not in POLICIES:
            raise HarnessError(f"prompt_policy={prompt_policy!r}: use one of {', '.join(POLICIES)}")
        self.prompt_policy = prompt_policy
        self._sizes: dict[str, tuple[int, int]] = {}

    @property
    def max_prompt_tokens(self) -> int | None:
        """The prompt bound; ``"auto"``: the model's context length (its config) minus ``max_new_tokens``,
        at most ``model_max_length`` (the reference's 16384); :func:`auto_prompt_bound`."""
        if self._bound is not None:
            return self._bound[0]
        model_max_length = int(self.processor_args["model_max_length"])
        if str(self._prompt_bound_arg).strip().lower() != "auto":
            self._bound = (_prompt_bound(self._prompt_bound_arg, model_max_length),)
            return self._bound[0]
        from reag_harness.models.hf_checkpoints import context_length

        bound = auto_prompt_bound(self.pretrained, model_max_length, self.max_new_tokens)
        if context_length(self.pretrained)[0] is not None:  # else asked again once the hub download is there
            self._bound = (bound,)
        return bound

    @max_prompt_tokens.setter
    def max_prompt_tokens(self, value: int | None) -> None:
        self._bound = (None if value is None else int(value),)

    def prompt_tokens(self, request: ChatRequest) -> int:
        """Tokens of the request's prompt (text and image tokens), without loading the model."""
        processor = load_processor(self.pretrained, trust_remote_code=self.trust_remote_code, **self.processor_args)
        return prompt_length(processor, render(processor, request.messages, request.assistant_prefix), self._sizes)

    def default_max_new_tokens(self, model: Any = None) -> int:
        """``max_new_tokens``, else the checkpoint's generation config's, else 4096."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        configured = getattr(getattr(model, "generation_config", None), "max_new_tokens", None)
        return int(configured or DEFAULT_MAX_NEW_TOKENS)

    def generate(self, requests: Sequence[ChatRequest], on_batch: OnBatch | None = None) -> list[str]:
        """New text for each request (no assistant prefix), in input order.

        ``on_batch(indices, texts)`` is called after each model batch with the input indices
        of that batch and their texts (the vLLM backend runs all requests as one batch).
        """
        if not requests:
            return []
        if self.backend == "vllm":
            engine = self._vllm()
            limit = self.max_new_tokens or int(engine.generation_config.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS)
            texts = engine.generate(requests, limit, self.gen_kwargs)
            if on_batch is not None:
                on_batch(list(range(len(requests))), list(texts))
            return texts
        model, processor = self.model_and_processor()
        default_max_new = self.default_max_new_tokens(model)
        prompts = [render(processor, r.messages, r.assistant_prefix) for r in requests]
        lengths = [prompt_length(processor, p, self._sizes) for p in prompts]
        check_prompt_lengths(model, lengths)
        too_long = [n for n in lengths if self.max_prompt_tokens is not None and n > self.max_prompt_tokens]
        if too_long:
            raise HarnessError(f"a prompt of {max(too_long)} tokens is over max_prompt_tokens="
                               f"{self.max_prompt_tokens}; the runner fits prompts first (prompt_policy="
                               f"{self.prompt_policy})")
        groups: dict[tuple[tuple[str, ...], int], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((tuple(r.stop), int(r.max_new_tokens or default_max_new)), []).append(i)
        out: list[str] = [""] * len(requests)
        for (stop, max_new), idx in groups.items():
            texts = sorted_batches(
                lambda batch, stop=stop, max_new=max_new: self._generate_batch(
                    model, processor, [prompts[i] for i in batch], stop, max_new),
                idx, [lengths[i] for i in idx], self.batch_size, auto_start=self._auto_start,
                on_shrink=self._remember_batch_size, max_tokens=self.max_batch_tokens,
                on_batch=None if on_batch is None else (
                    lambda pos, res, idx=idx: on_batch([idx[p] for p in pos], res)),
            )
            for i, text in zip(idx, texts):
                out[i] = text
        return out

    def _remember_batch_size(self, size: int) -> None:
        self._auto_start = size  # after an OOM, later calls start at the size that fit

    def _generate_batch(
        self, model: Any, processor: Any, prompts: list[Prompt], stop: tuple[str, ...], max_new_tokens: int
    ) -> list[str]:
        import torch

        inputs = batch_inputs(processor, prompts, str(model.device))
        limit = max_positions(model)
        if limit:  # generation stops at the model's last position (as if max_new_tokens said so)
            max_new_tokens = max(1, min(max_new_tokens, limit - int(inputs["input_ids"].shape[1])))
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, **self.gen_kwargs}
        if stop:
            kwargs.update(stop_strings=list(stop), tokenizer=tokenizer_of(processor))
        if kwargs.get("do_sample", model.generation_config.do_sample):
            torch.manual_seed(self.runtime.seed)
        with torch.inference_mode():
            output = model.generate(**inputs, **kwargs)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        texts = tokenizer_of(processor).batch_decode(new_tokens, skip_special_tokens=True)
        return [truncate_at_stop(t, stop) for t in texts]


def _prompt_bound(value: int | str | None, model_max_length: int) -> int | None:
    """``max_prompt_tokens``: ``"auto"`` is ``model_max_length``; ``"none"``/0 no bound."""
    if value is None or str(value).strip().lower() in ("none", "0"):
        return None
    if str(value).strip().lower() == "auto":
        return model_max_length
    try:
        return int(value)
    except ValueError:
        raise HarnessError(f"max_prompt_tokens={value!r}: use a positive integer, 'auto' or 'none'") from None


def auto_prompt_bound(pretrained: str, model_max_length: int, max_new_tokens: int | None) -> int:
    """``max_prompt_tokens=auto``: the model's own context length minus the tokens it will generate.

    The context length comes from the checkpoint's config (no weights: :func:`context_length`);
    ``max_new_tokens=None`` takes the checkpoint's ``generation_config.json`` (else 4096), and at
    most half the context is kept for the answer (generation stops at the last position anyway).
    Never above ``model_max_length``; an unreadable config (a hub id not downloaded) gives it.
    """
    from reag_harness.models.hf_checkpoints import context_length

    context, configured_new = context_length(pretrained)
    if context is None:
        return model_max_length
    new = max_new_tokens if max_new_tokens is not None else (configured_new or DEFAULT_MAX_NEW_TOKENS)
    return max(1, min(model_max_length, context - min(int(new), context // 2)))


def reag_3b(runtime: Runtime, pretrained: str = "aimagelab/ReAG-3B", **kwargs: Any) -> QwenVLGenerator:
    """aimagelab/ReAG-3B; ``pretrained=/local/path`` loads a downloaded copy."""
    return QwenVLGenerator(runtime, pretrained=pretrained, **kwargs).named("reag-3b")


def reag_7b(runtime: Runtime, pretrained: str = "aimagelab/ReAG-7B", **kwargs: Any) -> QwenVLGenerator:
    """aimagelab/ReAG-7B; ``pretrained=/local/path`` loads a downloaded copy."""
    return QwenVLGenerator(runtime, pretrained=pretrained, **kwargs).named("reag-7b")


def qwen25vl_3b(runtime: Runtime, pretrained: str = "Qwen/Qwen2.5-VL-3B-Instruct", **kwargs: Any) -> QwenVLGenerator:
    """Qwen/Qwen2.5-VL-3B-Instruct (the zero-shot baseline)."""
    return QwenVLGenerator(runtime, pretrained=pretrained, **kwargs).named("qwen2.5-vl-3b")


def qwen25vl_7b(runtime: Runtime, pretrained: str = "Qwen/Qwen2.5-VL-7B-Instruct", **kwargs: Any) -> QwenVLGenerator:
    """Qwen/Qwen2.5-VL-7B-Instruct (the zero-shot baseline)."""
    return QwenVLGenerator(runtime, pretrained=pretrained, **kwargs).named("qwen2.5-vl-7b")


def tiny_qwen25vl(
    runtime: Runtime, pretrained: str | None = None, max_new_tokens: int = 16, **kwargs: Any
) -> QwenVLGenerator:
    """A tiny random Qwen2.5-VL built on first use (meaningless answers; tests and demos)."""
    if pretrained is None:
        from reag_harness.models.tiny.qwen import tiny_qwen25vl_path

        pretrained = str(tiny_qwen25vl_path())
    generator = QwenVLGenerator(runtime, pretrained=pretrained, max_new_tokens=max_new_tokens, **kwargs)
    return generator.named("tiny-qwen2.5-vl")
