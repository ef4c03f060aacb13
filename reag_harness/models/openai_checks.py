"""What comes back from an OpenAI-compatible server, checked before anything uses or stores it.

Every value read from a server (the body's JSON, ``choices``, ``content``, ``reasoning_content``,
``finish_reason``, ``stop_reason``, ``model``, logprobs) is checked against its type and domain here.
A violation is an :class:`AnswerError` naming the server; nothing is coerced or replaced, so a bad
value never reaches the stage cache. Error texts that quote a server pass through
:func:`mask_secret` *before* they are cut, so no piece of the key survives a cut.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reag_harness.core.errors import HarnessError

MAX_DETAIL = 300  # characters of a server's error text quoted in our one-line errors
MASK = "***"
MIN_KEY_RUN = 12  # this many consecutive characters of the key are masked wherever they appear
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class AnswerError(HarnessError):
    """A server's answer that breaks the protocol's types or domains (never retried, never cached)."""


def mask_secret(text: str, secret: str | None) -> str:
    """``text`` with the key, and any run of at least :data:`MIN_KEY_RUN` of its characters, as ``***``."""
    if not secret or len(secret) < 4 or not text:
        return text
    text = text.replace(secret, MASK)
    width = min(MIN_KEY_RUN, len(secret))
    hidden = [False] * len(text)
    for start in range(len(secret) - width + 1):
        window = secret[start:start + width]
        at = text.find(window)
        while at >= 0:
            hidden[at:at + width] = [True] * width
            at = text.find(window, at + 1)
    if not any(hidden):
        return text
    out, i = [], 0
    while i < len(text):
        if hidden[i]:
            while i < len(text) and hidden[i]:
                i += 1
            out.append(MASK)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def one_line(text: str, secret: str | None, limit: int = MAX_DETAIL) -> str:
    """Masked first, then on one line with control characters escaped, then cut to ``limit``."""
    text = mask_secret(str(text), secret)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", " ".join(text.split()))
    return text if len(text) <= limit else text[:limit] + "..."


def error_detail(body: str) -> str:
    """The reason in a server's error body: ``detail``, ``error.message``, ``message``, else the raw text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip() or "(empty body)"
    if isinstance(data, Mapping):
        for value in (data.get("detail"), _get(data.get("error"), "message"), data.get("error"), data.get("message")):
            if isinstance(value, str) and value.strip():
                return value
            if isinstance(value, (list, Mapping)) and value:
                return json.dumps(value, ensure_ascii=False)
    return body.strip()


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def parse_body(text: str, where: str) -> dict[str, Any]:
    """A 2xx body as a JSON object (``NaN``/``Infinity`` literals are not JSON); AnswerError otherwise."""
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except ValueError as exc:
        raise AnswerError(f"{where}: the answer is not JSON ({exc}): {text[:80]!r}") from None
    if not isinstance(data, dict):
        raise AnswerError(f"{where}: the answer is JSON but not an object (got {type(data).__name__})")
    return data


@dataclass(frozen=True)
class Answer:
    """The first choice of a response, checked. ``stop_reason`` is vLLM's extension (the matched stop
    string, a token id, or None at end of sequence); ``reports_stop_reason`` says whether the
    server sends that field at all (OpenAI does not). ``reasoning`` is ``reasoning_content`` (or
    ``reasoning``) of servers with a reasoning parser, None when absent."""

    text: str
    finish_reason: str | None
    stop_reason: Any
    reports_stop_reason: bool
    reasoning: str | None = None


def first_choice(data: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """``choices[0]`` of a checked body; also checks ``model`` when present."""
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise AnswerError(f"{where}: 'model' must be a string, got {type(model).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise AnswerError(f"{where}: the answer has no 'choices' list"
                          + (f" (got {type(choices).__name__})" if choices is not None else ""))
    choice = choices[0]
    if not isinstance(choice, Mapping):
        raise AnswerError(f"{where}: choices[0] must be an object, got {type(choice).__name__}")
    return choice


def first_answer(data: Mapping[str, Any], where: str) -> Answer:
    """The checked :class:`Answer` of a body: strings where strings belong, nothing coerced."""
    choice = first_choice(data, where)
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise AnswerError(f"{where}: choices[0].message must be an object, got {type(message).__name__}")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise AnswerError(f"{where}: choices[0].message.content must be a string, got {type(content).__name__} "
                          f"({one_line(repr(content), None, 40)})")
    reasoning = message.get("reasoning_content", message.get("reasoning"))
    if reasoning is not None and not isinstance(reasoning, str):
        raise AnswerError(f"{where}: choices[0].message.reasoning_content must be a string, "
                          f"got {type(reasoning).__name__}")
    if content is None and not reasoning:
        raise AnswerError(f"{where}: choices[0].message has no content")
    finish = choice.get("finish_reason")
    if finish is not None and not isinstance(finish, str):
        raise AnswerError(f"{where}: choices[0].finish_reason must be a string, got {type(finish).__name__}")
    stop_reason = choice.get("stop_reason")
    if stop_reason is not None and (isinstance(stop_reason, bool) or not isinstance(stop_reason, (str, int))):
        raise AnswerError(f"{where}: choices[0].stop_reason must be a string, an int or null, "
                          f"got {type(stop_reason).__name__}")
    return Answer(content or "", finish, stop_reason, "stop_reason" in choice, reasoning or None)


def checked_logprob(value: Any, where: str, field: str) -> float:
    """A log-probability: a finite number <= 0 (so that exp() is a probability in [0, 1])."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AnswerError(f"{where}: {field} must be a number, got {type(value).__name__} "
                          f"({one_line(repr(value), None, 40)})")
    if not math.isfinite(value) or value > 0:
        raise AnswerError(f"{where}: {field} = {value!r} is not a log-probability (finite and <= 0)")
    return float(value)


def first_token_logprobs(data: Mapping[str, Any], where: str) -> list[tuple[str, float]] | None:
    """``(token, logprob)`` of the first generated position and its top alternatives, all checked;
    None when the server sent no logprobs."""
    logprobs = first_choice(data, where).get("logprobs")
    if logprobs is None:
        return None
    if not isinstance(logprobs, Mapping):
        raise AnswerError(f"{where}: choices[0].logprobs must be an object, got {type(logprobs).__name__}")
    content = logprobs.get("content")
    if content is None or content == []:
        return None
    if not isinstance(content, list) or not isinstance(content[0], Mapping):
        raise AnswerError(f"{where}: choices[0].logprobs.content must be a list of objects")
    first = content[0]
    top = first.get("top_logprobs") or []
    if not isinstance(top, list):
        raise AnswerError(f"{where}: logprobs.content[0].top_logprobs must be a list, got {type(top).__name__}")
    out = []
    for j, cand in enumerate([*top, first]):
        field = f"logprobs.content[0].top_logprobs[{j}]" if j < len(top) else "logprobs.content[0]"
        if not isinstance(cand, Mapping):
            raise AnswerError(f"{where}: {field} must be an object, got {type(cand).__name__}")
        token = cand.get("token")
        if not isinstance(token, str):
            raise AnswerError(f"{where}: {field}.token must be a string, got {type(token).__name__}")
        out.append((token, checked_logprob(cand.get("logprob"), where, f"{field}.logprob")))
    return out
