"""EchoSight's answer prompt (Go2Heart/EchoSight ``model/answer_generator.py``, ``llm_answering``, l.263-335).

System turn "You are a helpful assistant for answering encyclopedic questions."; user turn
``"Context: " + section + "\\nQuestion: " + question + "\\nThe answer is:"`` with the section the
reranker put first (``entry_section``), or ``"Question: " + question + "\\nThe answer is:"``
without one (the vanilla setting). Text only: EchoSight's answer generator never sees the
image. The reference samples (``do_sample=True, temperature=0.6, top_p=0.9,
max_new_tokens=128``): the ``echosight`` preset passes those to the generator.
"""

from __future__ import annotations

from typing import Any, Sequence

from reag_harness.interfaces import Component, Runtime
from reag_harness.records import ChatRequest, Passage, Sample

from .parsing import parse_plain_output

SOURCE = "Go2Heart/EchoSight model/answer_generator.py l.263-335"
SYSTEM = "You are a helpful assistant for answering encyclopedic questions."


def echosight_text(question: str, sections: Sequence[str] | None) -> str:
    if not sections:
        return "Question: " + question + "\nThe answer is:"
    return "Context: " + "\n".join(sections) + "\nQuestion: " + question + "\nThe answer is:"


class EchoSightPrompt(Component):
    """The context is the kept section(s), joined by a newline (the reference keeps exactly one)."""

    name = "echosight"
    version = "1"
    deviations = [
        "echosight prompt: rendered with the generation prompt; the reference calls apply_chat_template without "
        "add_generation_prompt (the assistant header is left to the model)",
    ]

    def __init__(self, runtime: Runtime, text_only: bool = True, max_new_tokens: int | None = 128) -> None:
        super().__init__(runtime, text_only=bool(text_only), max_new_tokens=max_new_tokens)
        self.max_new_tokens = max_new_tokens

    def build(self, sample: Sample, passages: Sequence[Passage] | None, task: str) -> ChatRequest:
        text = echosight_text(sample.question, [p.text for p in passages] if passages else None)
        messages: list[dict[str, Any]] = [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
                                          {"role": "user", "content": [{"type": "text", "text": text}]}]
        return ChatRequest(messages=messages, max_new_tokens=self.max_new_tokens)

    def parse(self, raw: str) -> tuple[str | None, str]:
        return parse_plain_output(raw)
