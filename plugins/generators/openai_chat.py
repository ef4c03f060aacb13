"""``openai``: any OpenAI-compatible Chat Completions endpoint as the generator.

``reag-eval --generator openai --generator-args base_url=http://HOST:8000/v1,model=NAME``.
The client (key from the environment, images as data URLs, concurrency, retries, checked
answers) is :mod:`reag_harness.models.openai_api`; this file maps a :class:`ChatRequest` onto a
request body and the answer back onto our generator contract (see docs/api-models.md):

* ``assistant_prefix`` (ReAG's forced ``<think>``): with ``prefix_mode="continue"`` (default)
  it is sent as a final assistant message with ``continue_final_message`` (a vLLM/SGLang
  extension); a server that refuses it gets a hint, one that silently ignores it is caught by
  :func:`~reag_harness.models.openai_probes.prefix_check`. ``prefix_mode="omit"`` drops it and
  records that deviation. The output never repeats the prefix.
* stop strings: ``stop_mode="auto"`` (default) sends them as ``stop`` and, when the server
  refuses ``stop`` (``transformers serve`` with an image model answers 500), stops sending them
  and cuts on our side (``client``), recorded as a deviation; ``server`` / ``client`` force either.
  When the server says which stop string matched (vLLM's ``stop_reason``) it is appended again,
  so the raw output matches the transformers generator's. The output is always cut client-side
  after the first stop string.
* ``reasoning_content`` (servers with a reasoning parser) is put back in front of the content
  with ``</think>``, so the prompt style's parser sees what the model wrote.
* decoding is greedy (``temperature=0``) unless ``--gen-kwargs`` says otherwise; every other
  argument (``top_p``, ``seed``, ``top_k``, ...) goes into the JSON body, and a Python
  ``extra_body={...}`` is merged into it (the prefix fields never replace the user's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Component, Runtime
from reag_harness.models.openai_api import OpenAIComponent
from reag_harness.models.openai_checks import first_answer, one_line
from reag_harness.models.openai_probes import PREFIX_FIELDS, prefix_check
from reag_harness.models.openai_settings import DEFAULT_BASE_URL, DEFAULT_KEY_ENV
from reag_harness.models.qwen_vl import truncate_at_stop
from reag_harness.records import ChatRequest

PREFIX_MODES = ("continue", "omit")
STOP_MODES = ("auto", "server", "client")
NOT_ABOUT_STOP = frozenset({401, 403, 404, 408, 409, 429})  # statuses that never mean "stop refused"


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
        stop_mode: str = "auto",
        images: bool = True,
        image_check: bool = True,
        max_tokens_field: str = "max_tokens",
        max_concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 4,
        retry_backoff: float = 0.5,
        **gen_kwargs: Any,
    ) -> None:
        if prefix_mode not in PREFIX_MODES:
            raise HarnessError(f"prefix_mode must be one of {', '.join(PREFIX_MODES)}, not '{prefix_mode}'")
        if stop_mode not in STOP_MODES:
            raise HarnessError(f"stop_mode must be one of {', '.join(STOP_MODES)}, not '{stop_mode}'")
        extra_body = gen_kwargs.get("extra_body")
        if extra_body is not None and not isinstance(extra_body, dict):
            raise HarnessError(f"extra_body must be a JSON object, got {type(extra_body).__name__}")
        gen_kwargs.setdefault("temperature", 0.0)
        # only the non-default transport choices enter args (and so the identity): old caches stay valid
        choices = {k: v for k, v in (("stop_mode", stop_mode), ("images", images),
                                     ("max_tokens_field", max_tokens_field))
                   if v != {"stop_mode": "auto", "images": True, "max_tokens_field": "max_tokens"}[k]}
        super().__init__(runtime, model=model, base_url=base_url, api_key_env=api_key_env,
                         max_new_tokens=max_new_tokens, max_pixels=max_pixels, prefix_mode=prefix_mode,
                         max_concurrency=max_concurrency, timeout=timeout, max_retries=max_retries,
                         retry_backoff=retry_backoff, **choices, **gen_kwargs)
        self.setup_api(base_url=base_url, model=model, api_key_env=api_key_env, max_concurrency=max_concurrency,
                       timeout=timeout, max_retries=max_retries, retry_backoff=retry_backoff, max_pixels=max_pixels,
                       images=images, image_check=image_check, max_tokens_field=max_tokens_field)
        self.max_new_tokens = int(max_new_tokens)
        self.prefix_mode = prefix_mode
        self.stop_mode = stop_mode
        self.extra_body = dict(extra_body or {})
        self.gen_kwargs = {k: v for k, v in gen_kwargs.items() if k != "extra_body"}
        self._prefix_dropped = False
        self._stop_unmarked = 0
        self._count_lock = threading.Lock()
        self._stop_refused: str | None = None  # the server's reason when stop_mode=auto switched to client

    @property
    def deviations(self) -> list[str]:
        """What the server could not do as the transformers generator does (seen in this run)."""
        out = list(self.api_deviations)
        if self._prefix_dropped:
            out.append("openai: assistant_prefix not sent (prefix_mode=omit); the model chose its own opening")
        if self._stop_refused is not None:
            out.append("openai: stop strings not sent (stop_mode=auto chose client: the server refused 'stop' with "
                       f"{self._stop_refused}); answers are cut after the first stop string on our side, as the "
                       "transformers generator does, and the server generated past it")
        elif self.stop_mode == "client":
            out.append("openai: stop strings not sent (stop_mode=client); answers are cut after the first stop "
                       "string on our side")
        if self._stop_unmarked:
            out.append(f"openai: the server does not say which stop string ended an answer (no stop_reason): "
                       f"{self._stop_unmarked} answer(s) ended without a stop string in the raw output (the server "
                       "cut it off, or the model ended the text)")
        return out

    @property
    def sends_stop(self) -> bool:
        return self.stop_mode == "server" or (self.stop_mode == "auto" and self._stop_refused is None)

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The Chat Completions request (JSON body) for one of our requests."""
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": self.messages(request.messages),
            self.settings.max_tokens_field: int(request.max_new_tokens or self.max_new_tokens),
            **self.gen_kwargs,
        }
        if request.stop and self.sends_stop:
            body["stop"] = list(request.stop)
        extra = dict(self.extra_body)
        if request.assistant_prefix:
            if self.prefix_mode == "continue":
                body["messages"].append({"role": "assistant", "content": request.assistant_prefix})
                extra = {**PREFIX_FIELDS, **extra}  # the user's own values win
            else:
                self._prefix_dropped = True
        return {**body, **extra}

    def without_stop(self, body: Any, status: int, reason: str) -> tuple[dict[str, Any], Callable[[], None]] | None:
        """``stop_mode=auto``: the body again without ``stop`` when the server may have refused it; once
        that is answered, later requests go without ``stop`` (``client``), recorded with the server's reason."""
        low = reason.lower()
        if (self.stop_mode != "auto" or "stop" not in body or status in NOT_ABOUT_STOP
                or "continue_final_message" in low or "add_generation_prompt" in low
                or (status < 500 and "stop" not in low)):
            return None
        refusal = f"HTTP {status}: {one_line(reason, self.api.secret(), 120)}"

        def switch() -> None:
            if self._stop_refused is None:
                self._stop_refused = refusal

        return {k: v for k, v in body.items() if k != "stop"}, switch

    def text(self, request: ChatRequest, data: Any) -> str:
        """Our raw output: new text only, cut after the first stop string (kept when known)."""
        answer = first_answer(data, self.api.where)
        text = answer.text
        if answer.reasoning is not None:  # a reasoning parser split "reasoning</think>answer" apart
            opened = request.assistant_prefix.endswith("<think>") and self.prefix_mode == "continue"
            text = ("" if opened else "<think>") + answer.reasoning + "</think>" + text
        if request.stop:
            text = truncate_at_stop(text, request.stop)
            if any(text.endswith(s) for s in request.stop if s):
                return text
            matched = answer.stop_reason if answer.stop_reason in request.stop else None
            if answer.finish_reason == "stop" and matched is not None:
                text += matched
            elif answer.finish_reason == "stop" and not answer.reports_stop_reason and self.sends_stop:
                with self._count_lock:  # answers are parsed in the client's worker threads
                    self._stop_unmarked += 1
        return text

    def generate(self, requests: Sequence[ChatRequest],
                 on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[str]:
        """New text per request, in input order; ``on_batch([i], [text])`` as each answer arrives."""
        out: list[str] = [""] * len(requests)
        if not requests:
            return out
        for r in requests:
            self.check_images(r.messages)
        prefixed = next((r for r in requests if r.assistant_prefix), None)
        if prefixed is not None and self.prefix_mode == "continue":
            self.api.once("prefix", lambda: prefix_check(self.api, prefixed.assistant_prefix, self.extra_body))

        def done(i: int, text: str) -> None:
            out[i] = text
            if on_batch is not None:
                on_batch([i], [text])

        self.api.map(len(requests), lambda i: self.body(requests[i]), lambda i, r: self.text(requests[i], r), done,
                     fallback=self.without_stop)
        return out
