"""The ReAG critic: P("Yes") that a passage helps answer the question, from one forward pass.

:class:`QwenVLCritic` runs on any chat VLM of the generic path
(:mod:`reag_harness.models.hf_vlm`; ReAG-Critic is a Qwen2.5-VL, hence the name); ``hf-vlm-critic``
(:mod:`.hf_vlm_critic`) is the same class with each family's defaults.

For each (sample, passage) pair the chat of :func:`reag_harness.prompts.reag.critic_messages`
is rendered with the generation prompt; the logits at the last position (left padding) go
through a float32 softmax over the full vocabulary and ``p_yes`` is the probability of the
tokenizer's single "Yes" token (not renormalised over Yes/No), as in the reference. "Yes" is
the token the model would emit right after its generation prompt (``" Yes"`` after a prompt
ending in ``ASSISTANT:``); a tokenizer that splits it is an error.

With ``prefix_cache=true`` (the default, transformers backend) each query's image and
everything of the chat before the passage are computed once and the passages are scored
as suffixes against that KV cache (:mod:`reag_harness.models.prefix_scoring`): the same
rendered text and the same numbers as ``prefix_cache=false`` (per-pair sequences, kept for
checking) within float rounding, several times faster. It is a computation strategy, not
part of :meth:`QwenVLCritic.identity`: switching it recomputes nothing.

Every model batch is bounded by ``batch_size`` items and ``max_batch_tokens`` padded tokens
(``"auto"``: :func:`reag_harness.models.batching.default_batch_tokens` for the device).

``threshold`` and ``top_n`` are applied when Judgements are read (keep iff ``p_yes > threshold``,
then the ``top_n`` highest), so neither is part of :meth:`QwenVLCritic.identity` and sweeping
either reuses stored scores. The
class and the ``reag-critic`` factory default to 0.5, the reference code's default; the
paper's operating point 0.1 comes from the ``reag-3b`` / ``reag-7b`` presets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Runtime
from reag_harness.models.batching import OnBatch, resolve_batch_tokens, sorted_batches
from reag_harness.models.hf_prompts import answer_token_id, check_prompt_lengths
from reag_harness.models.prefix_scoring import PrefixRequest, SharedPrefixScorer, shares_prefix
from reag_harness.models.qwen_vl import (
    QWEN_MAX_PIXELS,
    QWEN_MIN_PIXELS,
    Prompt,
    QwenVLComponent,
    batch_inputs,
    prompt_length,
    render,
)
from reag_harness.prompts.reag import critic_messages
from reag_harness.records import Passage, Sample

_PASSAGE_MARK = "\x00REAG-PASSAGE\x00"
_NOT_SHARED = ("critic prefix_cache: model family '{}' is scored per pair (shared-prefix scoring is verified "
               "only for Qwen2-VL / Qwen2.5-VL); same scores, slower")


class QwenVLCritic(QwenVLComponent):
    """Scores (sample, passage) pairs with a VLM yes/no judge (a Qwen2.5-VL for ReAG-Critic).

    Pairs from any number of queries are rendered and returned in input order. With
    ``prefix_cache=True`` (default) each (image, question) prefix runs once and its passages
    are scored in batches of suffixes against its KV cache; with ``False`` whole sequences are
    sorted by prompt length and batched with left padding (one forward pass per batch, no
    generation). Both are bounded by ``batch_size`` and ``max_batch_tokens``.
    ``batch_size=None`` takes the runtime's; ``"auto"`` starts at 64 and halves on CUDA
    out-of-memory. ``backend="vllm"`` scores by prefill with top-20 logprobs (see
    :mod:`reag_harness.models.vllm_backend` for how that differs).
    """

    name = "qwen-critic"
    version = "1"
    kind = "critic"
    auto_batch_start = 64
    identity_excludes = ("threshold", "top_n", "batch_size", "gpu_memory_utilization", "prefix_cache",
                         "max_batch_tokens")

    def __init__(
        self,
        runtime: Runtime,
        pretrained: str,
        threshold: float | None = 0.5,
        top_n: int | None = None,
        batch_size: int | str | None = None,
        backend: str = "transformers",
        min_pixels: int | None = QWEN_MIN_PIXELS,
        max_pixels: int | None = QWEN_MAX_PIXELS,
        model_max_length: int = 16384,
        attn_implementation: str | None = None,
        gpu_memory_utilization: float | None = None,
        prefix_cache: bool = True,
        max_batch_tokens: int | str = "auto",
        trust_remote_code: bool = False,
    ) -> None:
        remote = {"trust_remote_code": True} if trust_remote_code else {}  # absent when off: old cache keys hold
        super().__init__(runtime, pretrained=pretrained, threshold=threshold, top_n=top_n, batch_size=batch_size,
                         backend=backend,
                         min_pixels=min_pixels, max_pixels=max_pixels, model_max_length=model_max_length,
                         attn_implementation=attn_implementation, gpu_memory_utilization=gpu_memory_utilization,
                         prefix_cache=prefix_cache, max_batch_tokens=max_batch_tokens, **remote)
        self.setup_vlm(pretrained, batch_size, backend, min_pixels, max_pixels, model_max_length,
                       attn_implementation, gpu_memory_utilization, trust_remote_code)
        self.threshold = None if threshold is None else float(threshold)
        self.prefix_cache = _as_bool(prefix_cache, "prefix_cache")
        self.max_batch_tokens = resolve_batch_tokens(max_batch_tokens, runtime.device)
        self.top_n = None if top_n is None else int(top_n)
        if self.top_n is not None and self.top_n < 1:
            raise HarnessError(f"top_n must be at least 1, got {top_n}")
        self._yes_id: int | None = None
        self.prompt_lengths: list[int] = []
        """Token length of every critic prompt this critic scored (for results.json)."""
        self.deviations: list[str] = []

    def yes_token_id(self, processor: Any) -> int:
        """The tokenizer's single token for "Yes" after the generation prompt (HarnessError if split)."""
        if self._yes_id is None:
            self._yes_id = answer_token_id(processor, "Yes")
        return self._yes_id

    def prompts(self, processor: Any, pairs: Sequence[tuple[Sample, Passage]]) -> list[Prompt]:
        """The rendered critic chat of each pair (generation prompt included)."""
        return [render(processor, critic_messages(s.image, s.question, p.text)) for s, p in pairs]

    def prefix_text(self, processor: Any, sample: Sample) -> str:
        """The rendered critic chat up to the passage: identical for all of a query's passages."""
        text = render(processor, critic_messages(sample.image, sample.question, _PASSAGE_MARK)).text
        return text[: text.index(_PASSAGE_MARK)]

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]], on_batch: OnBatch | None = None) -> list[float]:
        """P("Yes") for each pair, in input order; ``on_batch(indices, values)`` after each model batch."""
        if not pairs:
            return []
        if self.backend == "vllm":
            engine = self._vllm()
            processor = engine.processor
            prompts = self.prompts(processor, pairs)
            values = engine.p_yes(prompts, self.yes_token_id(processor),
                                  prefix_keys=[(s.image, s.question) for s, _ in pairs])
            if on_batch is not None:
                on_batch(list(range(len(pairs))), values)
            return values
        model, processor = self.model_and_processor()
        yes_id = self.yes_token_id(processor)
        prompts = self.prompts(processor, pairs)
        if not self.prefix_cache or not shares_prefix(model):
            note = _NOT_SHARED.format(getattr(model.config, "model_type", "?"))
            if self.prefix_cache and note not in self.deviations:
                self.deviations.append(note)
            return self._per_pair(model, processor, prompts, list(range(len(prompts))), yes_id, on_batch)
        prefixes: dict[tuple[str | None, str], str] = {}
        requests = []
        for (sample, _), prompt in zip(pairs, prompts):
            key = (sample.image, sample.question)
            if key not in prefixes:
                prefixes[key] = self.prefix_text(processor, sample)
            requests.append(PrefixRequest(prompt.text, prompt.images, prefixes[key]))
        device = str(model.device)
        scorer = SharedPrefixScorer(
            model, processor.tokenizer, lambda text, images: batch_inputs(processor, [Prompt(text, images)], device),
            yes_id, batch_size=self.batch_size, max_batch_tokens=self.max_batch_tokens, auto_start=self._auto_start,
            on_shrink=self._remember_batch_size, image_token_id=getattr(processor, "image_token_id", None))
        values = scorer.score(
            requests, lambda idx: self._per_pair(model, processor, prompts, idx, yes_id, on_batch), on_batch)
        self.prompt_lengths += list(scorer.lengths.values())
        return values

    def _per_pair(self, model: Any, processor: Any, prompts: list[Prompt], idx: list[int], yes_id: int,
                  on_batch: OnBatch | None) -> list[float]:
        """Each of ``prompts[i] for i in idx`` as its own sequence (left-padded batches)."""
        sizes: dict[str, tuple[int, int]] = {}
        lengths = [prompt_length(processor, prompts[i], sizes) for i in idx]
        check_prompt_lengths(model, lengths)
        self.prompt_lengths += lengths
        return sorted_batches(
            lambda batch: self._score_batch(model, processor, [prompts[i] for i in batch], yes_id),
            idx, lengths, self.batch_size, auto_start=self._auto_start, on_shrink=self._remember_batch_size,
            max_tokens=self.max_batch_tokens,
            on_batch=None if on_batch is None else (lambda pos, vals: on_batch([idx[p] for p in pos], vals)),
        )

    def _remember_batch_size(self, size: int) -> None:
        self._auto_start = size

    @staticmethod
    def _score_batch(model: Any, processor: Any, prompts: list[Prompt], yes_id: int) -> list[float]:
        import torch

        inputs = batch_inputs(processor, prompts, str(model.device))
        with torch.inference_mode():
            logits = model(**inputs, use_cache=False, logits_to_keep=1).logits[:, -1, :]
            probs = torch.softmax(logits.float(), dim=-1)
        return [float(x) for x in probs[:, yes_id].cpu()]


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    from reag_harness.core.errors import HarnessError

    raise HarnessError(f"critic option {name}={value!r}: use true or false")


def reag_critic(
    runtime: Runtime, pretrained: str = "aimagelab/ReAG-Critic", threshold: float | None = 0.5, **kwargs: Any
) -> QwenVLCritic:
    """aimagelab/ReAG-Critic; threshold 0.5 as in the reference code (the paper's presets use 0.1)."""
    return QwenVLCritic(runtime, pretrained=pretrained, threshold=threshold, **kwargs).named("reag-critic")


def tiny_critic(
    runtime: Runtime, pretrained: str | None = None, threshold: float | None = 0.5, **kwargs: Any
) -> QwenVLCritic:
    """The critic on the tiny random Qwen2.5-VL (the same checkpoint as ``tiny-qwen2.5-vl``)."""
    if pretrained is None:
        from reag_harness.models.tiny.qwen import tiny_qwen25vl_path

        pretrained = str(tiny_qwen25vl_path())
    return QwenVLCritic(runtime, pretrained=pretrained, threshold=threshold, **kwargs).named("tiny-critic")

