"""The reference's ``--short_prompt``: "\\nGive a short answer.\\nShort answer: " after the question."""

from __future__ import annotations

from .base import ReagPromptStyle


class ShortAnswer(ReagPromptStyle):
    """A plain (non-reasoning) prompt ending with the short-answer request.

    With passages, the question carries the context as in every style; without retrieval it
    is ``VQA_PROMPT`` (or the bare question with ``only_question=True``).
    """

    name = "short"
    short_prompt = True
