"""The vLLM backend for the VLM generator and critic (``backend="vllm"``).

Same interface as the transformers path: prompts are rendered with the checkpoint's own
processor and chat template (:func:`reag_harness.models.hf_prompts.render`), images go in
``multi_modal_data`` as PIL images, and one ``vllm.LLM`` per (checkpoint, dtype) is shared
by the critic and the generator, with prefix caching on (the critic's image and system
prompt are a shared prefix).

Critic scores through vLLM are nearly but not exactly the transformers ones:

- vLLM returns only the top-``k`` log-probabilities (``k = CRITIC_TOP_LOGPROBS = 20``, its
  default ``max_logprobs``). They are taken over the full vocabulary from the raw logits in
  float32 (not renormalised), but when "Yes" is not among the top 20 its probability is
  reported as 0.0. Then at least 20 tokens are each at least as likely, so the true value is
  at most 1/21 (< 0.048): keep/drop decisions at thresholds >= 0.048 (the paper's 0.1, the
  code's 0.5) are unaffected.
- vLLM's kernels, batching and bf16 arithmetic differ from transformers', so values differ
  in the last digits.

Prompts are the chat template's rendering, which already holds the BOS token where the family has
one; vLLM is told not to add special tokens again (``tokenization_kwargs``), as the transformers path
tokenizes with ``add_special_tokens=False``. Without that, Llama-style tokenizers got a second BOS and
vLLM decoded a different prompt (found running vLLM-CPU on ``tiny:llama-hd64``; tests/test_vllm_cpu.py).

``vllm`` is an optional extra: selecting this backend without it raises
:class:`~reag_harness.core.errors.MissingDependencyError`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from reag_harness.core.errors import HarnessError, MissingDependencyError
from reag_harness.records import ChatRequest

from .hf_checkpoints import resolve_checkpoint
from .hf_loading import family_of, load_processor, load_tokenizer
from .hf_prompts import Prompt, prepared_image, render, truncate_at_stop

CRITIC_TOP_LOGPROBS = 20
_LOCK = threading.Lock()
_ENGINES: dict[tuple[str, str], Any] = {}

# Hugging Face generate() keyword -> vLLM SamplingParams field.
_GEN_KWARG_MAP = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repetition_penalty",
    "seed": "seed",
}


def require_vllm() -> Any:
    """The ``vllm`` module, or MissingDependencyError saying how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise MissingDependencyError(
            "backend='vllm' needs the Python package 'vllm': pip install 'reag-harness[vllm]'"
        ) from exc
    return vllm


def to_vllm_prompt(processor: Any, prompt: Prompt, load_images: bool = True) -> dict[str, Any]:
    """A vLLM prompt dict: the rendered text (one placeholder per image, expanded by vLLM)
    and, when there are images, ``multi_modal_data={"image": [PIL images]}`` (within the
    family's pixel bounds)."""
    out: dict[str, Any] = {"prompt": prompt.text}
    if prompt.images:
        out["multi_modal_data"] = {
            "image": [prepared_image(processor, p) if load_images else p for p in prompt.images]
        }
    return out


def request_to_vllm_prompt(processor: Any, request: ChatRequest, load_images: bool = True) -> dict[str, Any]:
    """A ChatRequest as a vLLM prompt: chat template + generation prompt + assistant prefix."""
    return to_vllm_prompt(processor, render(processor, request.messages, request.assistant_prefix), load_images)


def _generation_config(resolved: str) -> dict[str, Any]:
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(resolved).to_diff_dict()
    except OSError:  # no generation_config.json
        return {}


def defaults_from_generation_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """SamplingParams defaults that decode as transformers does with this generation config:
    greedy (temperature 0) unless ``do_sample``; ``repetition_penalty`` applies either way."""
    out: dict[str, Any] = {"temperature": 0.0}
    if config.get("do_sample"):
        out.update({k: config[k] for k in ("temperature", "top_p", "top_k", "min_p") if config.get(k) is not None})
        out.setdefault("temperature", 1.0)
    if config.get("repetition_penalty") is not None:
        out["repetition_penalty"] = config["repetition_penalty"]
    return out


def sampling_kwargs(
    defaults: Mapping[str, Any], gen_kwargs: Mapping[str, Any], max_new_tokens: int, stop: Sequence[str]
) -> dict[str, Any]:
    """SamplingParams arguments: the checkpoint's defaults, then the user's HF-style gen kwargs.

    ``do_sample=False`` means greedy (temperature 0). Stop strings stay in the output, as
    with the transformers backend.
    """
    out = dict(defaults)
    for key, value in gen_kwargs.items():
        if key == "do_sample":
            if not value:
                out["temperature"] = 0.0
        elif key in _GEN_KWARG_MAP:
            out[_GEN_KWARG_MAP[key]] = value
        elif key == "num_beams" and int(value) == 1:
            continue
        else:
            raise HarnessError(f"generation option '{key}' is not supported by the vLLM backend")
    if gen_kwargs.get("do_sample") is False:
        out["temperature"] = 0.0
    out.update(max_tokens=int(max_new_tokens), stop=list(stop), include_stop_str_in_output=True)
    return out


def p_yes_from_logprobs(logprobs: Mapping[int, Any] | None, yes_id: int) -> float:
    """P(Yes) from one position's top-k logprobs ({token id: Logprob or float}); 0.0 if absent."""
    if not logprobs or yes_id not in logprobs:
        return 0.0
    entry = logprobs[yes_id]
    return math.exp(float(getattr(entry, "logprob", entry)))


class VLLMEngine:
    """One ``vllm.LLM`` for a checkpoint, shared by the generator and the critic."""

    def __init__(
        self,
        pretrained: str,
        dtype: str = "bfloat16",
        seed: int = 1234,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        model_max_length: int = 16384,
        max_images_per_prompt: int = 1,
        trust_remote_code: bool = False,
        text_only: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        vllm = require_vllm()
        self.vllm = vllm
        self.pretrained = pretrained
        if text_only:  # a causal LM: its tokenizer renders the prompts
            self.processor = load_tokenizer(pretrained, model_max_length, trust_remote_code)
        else:
            self.processor = load_processor(pretrained, min_pixels, max_pixels, model_max_length, trust_remote_code)
        family = family_of(self.processor)
        resolved, _ = resolve_checkpoint(pretrained)
        kwargs: dict[str, Any] = dict(
            model=resolved,
            dtype=dtype,
            seed=seed,
            enable_prefix_caching=True,
            max_model_len=model_max_length,
            trust_remote_code=trust_remote_code,
        )
        if not text_only:
            kwargs["limit_mm_per_prompt"] = {"image": max_images_per_prompt}
        if family.adapter.bounds_in_processor:  # Qwen-VL: vLLM's processor applies the bounds
            kwargs["mm_processor_kwargs"] = {"min_pixels": family.min_pixels, "max_pixels": family.max_pixels}
        kwargs.update(engine_kwargs)
        self.llm = vllm.LLM(**kwargs)
        self.generation_config = _generation_config(resolved)
        self.default_sampling = defaults_from_generation_config(self.generation_config)

    @classmethod
    def shared(cls, pretrained: str, dtype: str, **kwargs: Any) -> VLLMEngine:
        """The process's engine for (checkpoint, dtype), created on first use."""
        key = (resolve_checkpoint(pretrained)[0], dtype)
        with _LOCK:
            engine = _ENGINES.get(key)
            if engine is None:
                engine = cls(pretrained, dtype=dtype, **kwargs)
                _ENGINES[key] = engine
        return engine

    def generate(
        self, requests: Sequence[ChatRequest], max_new_tokens: int, gen_kwargs: Mapping[str, Any]
    ) -> list[str]:
        """New text per request, in input order, truncated after the first stop string."""
        prompts = [request_to_vllm_prompt(self.processor, r) for r in requests]
        params = [
            self.vllm.SamplingParams(**sampling_kwargs(self.default_sampling, gen_kwargs,
                                                       r.max_new_tokens or max_new_tokens, r.stop))
            for r in requests
        ]
        outputs = self._generate(prompts, params)
        return [truncate_at_stop(o.outputs[0].text, r.stop) for o, r in zip(outputs, requests)]

    def _generate(self, prompts: list[dict[str, Any]], params: Any) -> Any:
        """``LLM.generate`` on rendered prompts, adding no special tokens (the template holds them).

        A vLLM without ``tokenization_kwargs`` gets text-only prompts as token ids instead."""
        import inspect

        if "tokenization_kwargs" in inspect.signature(self.llm.generate).parameters:
            return self.llm.generate(prompts, params, use_tqdm=False,
                                     tokenization_kwargs={"add_special_tokens": False})
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        prompts = [p if "multi_modal_data" in p else
                   {"prompt_token_ids": tokenizer(p["prompt"], add_special_tokens=False)["input_ids"]}
                   for p in prompts]
        return self.llm.generate(prompts, params, use_tqdm=False)

    def p_yes(self, prompts: Sequence[Prompt], yes_id: int,
              prefix_keys: Sequence[Any] | None = None) -> list[float]:
        """Prefill-only scoring: one token, top-20 logprobs of the first position.

        Prefix caching: the critic's prompts of one query are byte-identical up to the
        passage (system prompt, image, question), so vLLM's automatic prefix caching computes
        that prefix once; the image is the same content, so its multimodal hash matches and
        the vision encoder does not run again for cached blocks (vLLM's encoder and processor
        caches, on by default, cover the rest). ``prefix_keys`` (one key per prompt, e.g.
        ``(image, question)``) makes that certain: the first prompt of each key is scored in a
        first call, the others in a second one, so no prompt is scheduled in the same step as
        the one that fills its prefix's blocks.
        """
        params = self.vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=CRITIC_TOP_LOGPROBS)
        images: dict[str, Any] = {}  # each image decoded (and resized) once per call

        def run(idx: list[int]) -> list[float]:
            batch = []
            for i in idx:
                prompt = {"prompt": prompts[i].text}
                for path in prompts[i].images:
                    if path not in images:
                        images[path] = prepared_image(self.processor, path)
                if prompts[i].images:
                    prompt["multi_modal_data"] = {"image": [images[path] for path in prompts[i].images]}
                batch.append(prompt)
            outputs = self._generate(batch, params)
            return [p_yes_from_logprobs(o.outputs[0].logprobs[0] if o.outputs[0].logprobs else None, yes_id)
                    for o in outputs]

        out = [0.0] * len(prompts)
        for idx in warm_first_order(prefix_keys if prefix_keys is not None else [None] * len(prompts)):
            if idx:
                for i, value in zip(idx, run(idx)):
                    out[i] = value
        return out


def warm_first_order(keys: Sequence[Any]) -> tuple[list[int], list[int]]:
    """``(first index of each distinct key, all other indices)``, each in input order.

    Scoring the first list before the second fills every shared prefix in the engine's
    prefix cache before the prompts that reuse it are scheduled.
    """
    seen: set[Any] = set()
    first: list[int] = []
    rest: list[int] = []
    for i, key in enumerate(keys):
        (rest if key in seen else first).append(i)
        seen.add(key)
    return first, rest
