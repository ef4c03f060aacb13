"""``openai``: any OpenAI-compatible Chat Completions endpoint as the generator.

``reag-eval --generator openai --generator-args base_url=http://HOST:8000/v1,model=NAME``.
The client (key from the environment, images as data URLs, concurrency, retries) is
:mod:`reag_harness.models.openai_api`; this file maps a :class:`ChatRequest` onto a request
body and the answer back onto our generator contract (see docs/models.md):

* ``assistant_prefix`` (ReAG's forced ``<think>``): with ``prefix_mode="continue"`` (default)
  it is sent as a final assistant message with ``continue_final_message`` (a vLLM/SGLang
  extension; a server without it rejects or ignores the request). ``prefix_mode="omit"`` drops
  it and records that deviation. The output never repeats the prefix.
* stop strings go to the server's ``stop``. Servers cut the stop string off; when the server
  says which one matched (vLLM's ``stop_reason``) it is appended again, so the raw output
  matches the transformers generator's; otherwise it stays off (parsers accept both). The
  output is also cut client-side at the first stop string, in case the server ignored one.
* decoding is greedy (``temperature=0``) unless ``--gen-kwargs`` says otherwise; other
  ``gen_kwargs`` (``top_p``, ``seed``, ...) are passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reag_harness.errors import HarnessError
from reag_harness.interfaces import Component, Runtime
from reag_harness.models.openai_api import (
    DEFAULT_BASE_URL,
    DEFAULT_KEY_ENV,
    OpenAIComponent,
    first_answer,
)
from reag_harness.models.qwen_vl import truncate_at_stop
from reag_harness.records import ChatRequest

PREFIX_MODES = ("continue", "omit")


class OpenAIGenerator(OpenAIComponent, Component):
    """Chat Completions generation; returns the new text of each request, in input order."""

    name = "openai"
    version = "1"

    def __init__(
        self,
        runtime: Runtime,
        model: str = "",
        base_url: str = DEFAULT_BASE_URL,
        api_key_env: str | None = DEFAULT_KEY_ENV,
        max_new_tokens: int = 1024,
        max_pixels: int = 1_003_520,
        prefix_mode: str = "continue",
        max_concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 4,
        retry_backoff: float = 0.5,
        **gen_kwargs: Any,
    ) -> None:
        if prefix_mode not in PREFIX_MODES:
            raise HarnessError(f"prefix_mode must be one of {', '.join(PREFIX_MODES)}, not '{prefix_mode}'")
        gen_kwargs.setdefault("temperature", 0.0)
        super().__init__(runtime, model=model, base_url=base_url, api_key_env=api_key_env,
                         max_new_tokens=max_new_tokens, max_pixels=max_pixels, prefix_mode=prefix_mode,
                         max_concurrency=max_concurrency, timeout=timeout, max_retries=max_retries,
                         retry_backoff=retry_backoff, **gen_kwargs)
        self.setup_api(base_url=base_url, model=model, api_key_env=api_key_env, max_concurrency=max_concurrency,
                       timeout=timeout, max_retries=max_retries, retry_backoff=retry_backoff, max_pixels=max_pixels)
        self.max_new_tokens = int(max_new_tokens)
        self.prefix_mode = prefix_mode
        self.gen_kwargs = dict(gen_kwargs)
        self._prefix_dropped = False
        self._stop_unmarked = False

    @property
    def deviations(self) -> list[str]:
        """What the server could not do as the transformers generator does (seen in this run)."""
        out = []
        if self._prefix_dropped:
            out.append("openai: assistant_prefix not sent (prefix_mode=omit); the model chose its own opening")
        if self._stop_unmarked:
            out.append("openai: the server does not say which stop string ended an answer (no stop_reason); "
                       "an answer cut at a stop string lacks it in the raw output (e.g. </answer>)")
        return out

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The Chat Completions request for one of our requests."""
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": self.messages(request.messages),
            "max_tokens": int(request.max_new_tokens or self.max_new_tokens),
            **self.gen_kwargs,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.assistant_prefix:
            if self.prefix_mode == "continue":
                body["messages"].append({"role": "assistant", "content": request.assistant_prefix})
                body["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
            else:
                self._prefix_dropped = True
        return body

    def text(self, request: ChatRequest, response: Any) -> str:
        """Our raw output: new text only, cut after the first stop string (kept when known)."""
        answer = first_answer(response)
        text = answer.text
        if request.stop:
            text = truncate_at_stop(text, request.stop)
            matched = answer.stop_reason if answer.stop_reason in request.stop else None
            if answer.finish_reason == "stop" and matched is not None and not text.endswith(matched):
                text += matched
            elif answer.finish_reason == "stop" and not answer.reports_stop_reason:
                self._stop_unmarked = True
        return text

    def generate(self, requests: Sequence[ChatRequest],
                 on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[str]:
        """New text per request, in input order; ``on_batch([i], [text])`` as each answer arrives."""
        out: list[str] = [""] * len(requests)

        def done(i: int, text: str) -> None:
            out[i] = text
            if on_batch is not None:
                on_batch([i], [text])

        self.api.map(len(requests), lambda i: self.body(requests[i]), lambda i, r: self.text(requests[i], r), done)
        return out
