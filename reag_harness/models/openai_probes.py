"""Checks of what a server silently does with our requests, each sent once per client before the first
real request that needs it (one-token requests, a few tokens each; the text is :data:`PROBE_TEXT`).

* :func:`image_check`: a request whose image is not a valid image. A server that reads images
  refuses it; one that answers normally ignores images (drops them, or pastes the data URL into
  the prompt as text): a text-only model. That is an error suggesting ``images=false``.
* :func:`prefix_check`: the assistant prefix with ``continue_final_message=true,
  add_generation_prompt=false``, and again with ``false, true``. A server honouring the fields
  builds two different prompts; the same ``usage.prompt_tokens`` for both means it ignores them
  (the model would answer another prompt): an error suggesting ``prefix_mode=omit``. When the
  server reports no usage the check is not possible and the run's deviations say so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from reag_harness.core.errors import HarnessError
from reag_harness.models.openai_checks import error_detail, one_line, parse_body
from reag_harness.models.openai_client import MAX_BACKOFF_S, ChatClient, RequestFailed, _NoAnswer

PROBE_TEXT = "reag-harness server check: say yes."
# base64 of "reag-harness: not an image" (a PNG that no image decoder accepts)
BROKEN_IMAGE = "data:image/png;base64,cmVhZy1oYXJuZXNzOiBub3QgYW4gaW1hZ2U="
PREFIX_FIELDS = {"continue_final_message": True, "add_generation_prompt": False}


def _send(client: ChatClient, body: Mapping[str, Any]) -> tuple[int, str]:
    """One check request; timeouts and connection failures are retried as real requests are."""
    attempt = 0
    while True:
        try:
            status, text, _ = client.send_once(body)
            return status, text
        except _NoAnswer as exc:
            if attempt >= int(client.settings.max_retries):
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise RequestFailed(client.redact(f"{client.where}: {exc}{tries}")) from None
        time.sleep(min(float(client.settings.retry_backoff) * 2 ** attempt, MAX_BACKOFF_S))
        attempt += 1


def _base(client: ChatClient, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": client.settings.model, "messages": messages, client.settings.max_tokens_field: 1,
            "temperature": 0.0}


def image_check(client: ChatClient) -> None:
    """HarnessError when the server answers a request whose image cannot be decoded."""
    body = _base(client, [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": BROKEN_IMAGE}},
                                                       {"type": "text", "text": PROBE_TEXT}]}])
    status, text = _send(client, body)
    reason = error_detail(text)
    if status >= 400 and "multimodal" in reason.lower():  # vLLM serving a text model
        raise HarnessError(client.redact(f"{client.where}: HTTP {status}: {one_line(reason, client.secret())} "
                                         "(the served model takes no images: pass images=false)"))
    if 200 <= status < 300:
        raise HarnessError(f"{client.where} answered a request whose image is not a valid image: it does not read "
                           "images (a text-only model, whose server drops images or pastes them into the prompt as "
                           "text). Pass images=false to send text only (recorded in the run's deviations), or "
                           "image_check=false if the server does read images")


def prompt_tokens(client: ChatClient, text: str) -> int | None:
    """``usage.prompt_tokens`` of a checked answer, None when absent."""
    usage = parse_body(text, client.where).get("usage")
    value = usage.get("prompt_tokens") if isinstance(usage, Mapping) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise HarnessError(f"{client.where}: usage.prompt_tokens must be a non-negative int, got {value!r}")
    return value


def prefix_check(client: ChatClient, prefix: str, extra: Mapping[str, Any]) -> None:
    """HarnessError when the server ignores ``continue_final_message``; a note when that cannot be told."""
    messages = [{"role": "user", "content": PROBE_TEXT}, {"role": "assistant", "content": prefix}]
    status, text = _send(client, {**_base(client, messages), **extra, **PREFIX_FIELDS})
    if not 200 <= status < 300:
        return  # the real request gets the same refusal, with the server's reason and a hint
    flipped = {"continue_final_message": False, "add_generation_prompt": True}
    status2, text2 = _send(client, {**_base(client, messages), **extra, **flipped})
    n_continue = prompt_tokens(client, text)
    n_new_turn = prompt_tokens(client, text2) if 200 <= status2 < 300 else None
    if n_continue is None or n_new_turn is None:
        client.notes.append("prefix_mode=continue could not be verified (the server reports no usage.prompt_tokens,"
                            " or refused the check): whether it continued the assistant prefix is unknown")
        return
    if n_continue == n_new_turn:
        raise HarnessError(f"{client.where} ignores continue_final_message (the prompt has {n_continue} tokens with "
                           "and without it): the assistant prefix would be sent as a finished turn and the model would "
                           "answer another prompt. Pass prefix_mode=omit (recorded in the run's deviations)")
