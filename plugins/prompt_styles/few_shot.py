"""ReAG's prompt with the reference's few-shot prefix (InfoSeek: 3 examples, EVQA: 2)."""

from __future__ import annotations

from .reag_reasoning import ReagReasoning


class FewShot(ReagReasoning):
    """``--few_shots`` on top of :class:`ReagReasoning` (the examples are in the think/answer format).

    The examples follow the task: ``few_shot_set="auto"`` picks them by task name (a task
    whose name contains neither "infoseek" nor "evqa" must name ``infoseek`` or ``evqa``).
    For a plain model pass ``extract_reasoning=False force_reasoning=False``.
    """

    name = "few-shot"
    few_shots = True
