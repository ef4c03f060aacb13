"""Plain prompts without reasoning tags: the reference run without ``--extract_reasoning``.

They differ only when there is no retrieval: :class:`Direct` uses the reference's
``VQA_PROMPT`` ("Answer the question based on the image above." + the question),
:class:`OnlyQuestion` the bare question (``--only_question``). With passages both wrap the
question with the context, as the reference does for a plain model.
"""

from __future__ import annotations

from .base import ReagPromptStyle


class Direct(ReagPromptStyle):
    """``--experiment_type no_retrieval`` (VQA_PROMPT), no system prompt, output taken whole."""

    name = "direct"


class OnlyQuestion(ReagPromptStyle):
    """``--experiment_type no_retrieval --only_question``: the bare question."""

    name = "only-question"
    only_question = True
