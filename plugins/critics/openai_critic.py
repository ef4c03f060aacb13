"""``openai-critic``: the ReAG critic prompt on any OpenAI-compatible endpoint.

Each (sample, passage) pair sends the critic chat of :func:`reag_harness.prompts.reag.critic_messages`
with ``max_tokens=1, temperature=0, logprobs=true, top_logprobs=K`` and takes
``p_yes = exp(logprob)`` of the token ``"Yes"`` among the first position's top-K
alternatives: the same full-vocabulary probability the transformers critic reads, as long as
"Yes" is among the K. When it is not, ``p_yes`` is 0 and the run's deviations say how often.
A server that returns no logprobs at all is an error naming it (every score would be 0), and
so is any logprob that is not a finite number <= 0 (P("Yes") must be a probability).

``threshold`` and ``top_n`` select passages when Judgements are read; they are not part of
the identity, so sweeping either recomputes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Component, Runtime
from reag_harness.models.openai_api import TRANSPORT_ARGS, OpenAIComponent
from reag_harness.models.openai_checks import first_token_logprobs
from reag_harness.models.openai_settings import DEFAULT_BASE_URL, DEFAULT_KEY_ENV, refuse_secrets
from reag_harness.prompts.reag import critic_messages
from reag_harness.records import Passage, Sample

YES = "Yes"


def yes_probability(data: Mapping[str, Any], where: str = "OpenAI-compatible server") -> float | None:
    """P("Yes") at the first generated position, None when "Yes" is not in the top list.

    HarnessError naming ``where`` when the answer carries no logprobs (the server does not
    support them), or a logprob that is not a finite number <= 0.
    """
    pairs = first_token_logprobs(data, where)
    if not pairs:
        raise HarnessError(f"{where} returned no logprobs: openai-critic needs a server that supports "
                           "logprobs/top_logprobs in chat completions (e.g. vLLM serve, llama-cpp-python)")
    for token, logprob in pairs:
        if token == YES:
            return math.exp(logprob)
    return None


class OpenAICritic(OpenAIComponent, Component):
    """P("Yes") of the ReAG critic chat from an OpenAI-compatible server's logprobs."""

    name = "openai-critic"
    version = "1"
    identity_excludes = (*TRANSPORT_ARGS, "threshold", "top_n")
    memo_size = 1 << 17  # scores are floats: keep many (duplicate passages are common)

    def __init__(
        self,
        runtime: Runtime,
        model: str = "",
        base_url: str = DEFAULT_BASE_URL,
        threshold: float | None = 0.5,
        top_n: int | None = None,
        top_logprobs: int = 20,
        api_key_env: str | None = DEFAULT_KEY_ENV,
        max_pixels: int = 1_003_520,
        images: bool = True,
        image_check: bool = True,
        max_tokens_field: str = "max_tokens",
        max_concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 4,
        retry_backoff: float = 0.5,
        **unknown: Any,
    ) -> None:
        refuse_secrets(self.name, unknown, api_key_env)
        if unknown:
            raise HarnessError(f"openai-critic: unknown argument(s) {', '.join(sorted(unknown))}")
        choices = {k: v for k, v in (("images", images), ("max_tokens_field", max_tokens_field))
                   if v != {"images": True, "max_tokens_field": "max_tokens"}[k]}
        super().__init__(runtime, model=model, base_url=base_url, threshold=threshold, top_n=top_n,
                         top_logprobs=top_logprobs, api_key_env=api_key_env, max_pixels=max_pixels,
                         max_concurrency=max_concurrency, timeout=timeout, max_retries=max_retries,
                         retry_backoff=retry_backoff, **choices)
        self.setup_api(base_url=base_url, model=model, api_key_env=api_key_env, max_concurrency=max_concurrency,
                       timeout=timeout, max_retries=max_retries, retry_backoff=retry_backoff, max_pixels=max_pixels,
                       images=images, image_check=image_check, max_tokens_field=max_tokens_field)
        self.threshold = None if threshold is None else float(threshold)
        self.top_n = None if top_n is None else int(top_n)
        if self.top_n is not None and self.top_n < 1:
            raise HarnessError(f"top_n must be at least 1, got {top_n}")
        self.top_logprobs = int(top_logprobs)
        self.scored = 0
        self.yes_absent = 0

    @property
    def deviations(self) -> list[str]:
        out = [*self.api_deviations,
               f"openai-critic: P('Yes') read from the server's top-{self.top_logprobs} logprobs of the first "
               "token; a pair whose top list lacks 'Yes' scores 0"]
        if self.yes_absent:
            out.append(f"openai-critic: 'Yes' was absent from the top-{self.top_logprobs} list for "
                       f"{self.yes_absent} of {self.scored} pairs scored in this run (p_yes set to 0)")
        return out

    def body(self, sample: Sample, passage: Passage) -> dict[str, Any]:
        return {
            "model": self.settings.model,
            "messages": self.messages(critic_messages(sample.image, sample.question, passage.text)),
            self.settings.max_tokens_field: 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": self.top_logprobs,
        }

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]],
              on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[float]:
        """P("Yes") per pair, in input order; ``on_batch([i], [p])`` as each answer arrives."""
        out: list[float] = [0.0] * len(pairs)

        def done(i: int, p: float | None) -> None:
            self.scored += 1
            if p is None:
                self.yes_absent += 1
                p = 0.0
            out[i] = p
            if on_batch is not None:
                on_batch([i], [p])

        with_image = next((s for s, _ in pairs if s.image), None)
        if with_image is not None:
            self.check_images(critic_messages(with_image.image, with_image.question, ""))
        self.api.map(len(pairs), lambda i: self.body(*pairs[i]), lambda i, r: yes_probability(r, self.api.where),
                     done)
        return out
