"""ReAG's own prompt: R1-style system prompt, ``<think>`` forced, generation stops at ``</answer>``."""

from __future__ import annotations

from .base import ReagPromptStyle


class ReagReasoning(ReagPromptStyle):
    """``--extract_reasoning --force_reasoning --all_filtered`` (both released scripts).

    Arguments: ``strict=False`` (``--strict_parsing``), ``all_filtered=True``,
    ``few_shots=False``, and every other option of :class:`ReagPromptStyle`.
    """

    name = "reag-reasoning"
    extract_reasoning = True
    force_reasoning = True
