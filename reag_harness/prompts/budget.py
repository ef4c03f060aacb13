"""The prompt-length policy: a generator prompt longer than ``max_prompt_tokens`` is never sent as is.

With many kept passages (EVQA's top 20 pages, a permissive critic, or no critic) a ReAG
generator prompt can exceed the model's context (tens of thousands of tokens). The
generator declares ``max_prompt_tokens`` and ``prompt_policy``, and can measure a request
(``prompt_tokens(request)``); before generating, the runner fits every request:

- ``truncate`` (default): keep the longest head of the kept passages (they are in
  retrieval/critic order, so the last ones go first) whose prompt fits; the number of
  dropped passages is recorded per sample and counted in ``results.json``. If even no
  passage fits (a huge question), the sample is an error.
- ``error``: the sample is recorded as an error (scored wrong), the run goes on.

:func:`length_summary` gives the per-stage max / p95 reported in ``results.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..records import ChatRequest, Passage

POLICIES = ("truncate", "error")


class PromptTooLong(Exception):
    """A prompt over ``max_prompt_tokens`` under the ``error`` policy (or with nothing left to drop)."""


@dataclass(frozen=True)
class Fitted:
    """A request that fits: its token count and how many trailing passages were dropped."""

    request: ChatRequest
    tokens: int
    dropped: int = 0


def fit_request(build: Callable[[Sequence[Passage] | None], ChatRequest], passages: Sequence[Passage] | None,
                measure: Callable[[ChatRequest], int], max_tokens: int | None, policy: str = "truncate") -> Fitted:
    """The request for ``passages``, shortened by the policy when over ``max_tokens``.

    ``build(passages)`` renders a request, ``measure(request)`` counts its tokens (text and
    image tokens). Truncation finds the largest head of ``passages`` that fits by bisection
    (prompt length grows with the number of passages). Raises :class:`PromptTooLong`.
    """
    if policy not in POLICIES:
        raise ValueError(f"prompt_policy {policy!r}: use one of {', '.join(POLICIES)}")
    request = build(passages)
    tokens = measure(request)
    if max_tokens is None or tokens <= max_tokens:
        return Fitted(request, tokens)
    if policy == "error" or not passages:
        raise PromptTooLong(f"prompt of {tokens} tokens is over max_prompt_tokens={max_tokens} "
                            f"(prompt_policy={policy})")
    lo, hi = 0, len(passages) - 1  # the largest k in [lo, hi] with a fitting prompt; k = len(passages) does not fit
    best: tuple[ChatRequest, int] | None = None
    while lo <= hi:
        k = (lo + hi) // 2
        candidate = build(list(passages[:k]))
        n = measure(candidate)
        if n <= max_tokens:
            best, lo = (candidate, n), k + 1
        else:
            hi = k - 1
    if best is None:
        raise PromptTooLong(f"prompt is over max_prompt_tokens={max_tokens} even without passages "
                            f"(prompt_policy={policy})")
    kept = lo - 1
    return Fitted(best[0], best[1], len(passages) - kept)


def length_summary(lengths: Sequence[int]) -> dict[str, Any]:
    """``{"n", "max", "p95", "mean"}`` of prompt lengths in tokens (nearest-rank p95); ``{"n": 0}`` when empty."""
    if not lengths:
        return {"n": 0}
    ordered = sorted(int(x) for x in lengths)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {"n": len(ordered), "max": ordered[-1], "p95": p95, "mean": round(sum(ordered) / len(ordered), 1)}
