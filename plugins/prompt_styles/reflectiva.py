"""ReflectiVA's prompts (aimagelab/ReflectiVA ``rag_evaluation/{infoseek,encyclopedic}/release_retrieval.py``).

The texts and chat builders live in :mod:`reag_harness.prompts.reflectiva`; this is the prompt style.

Three chats share one opening: the system prompt of ``conv_llava_llama_3_1``
(``llava/conversation.py``) and a user turn ``"<image>\\n\\n" + question``
(``IMAGE_TOKEN = f"{DEFAULT_IMAGE_TOKEN}\\n\\n"``):

- retrieval (the ``[RET]`` gate, and the answer when the model does not retrieve): the opening alone;
- relevance (the ``[REL]`` critic), one passage: + assistant ``"[Retrieval]"`` + user
  ``"Consider this paragraph: <paragraph>" + passage + "</paragraph>"``;
- final: as relevance with every kept passage concatenated without separator inside one
  ``<paragraph>`` pair, then ``". Give a short answer."`` (``--short_prompt``, both released scripts).

The chat is rendered with the checkpoint's chat template and ``add_generation_prompt=False``,
as ``Conversation.get_prompt`` does (:mod:`plugins.generators.reflectiva`).
"""

from __future__ import annotations

from typing import Sequence

from reag_harness.interfaces import Component, Runtime
from reag_harness.prompts.reflectiva import opening, relevance_messages, with_paragraph
from reag_harness.records import ChatRequest, Passage, Sample

from .parsing import parse_plain_output


def retrieval_request(sample: Sample, max_new_tokens: int | None = None) -> ChatRequest:
    return ChatRequest(messages=opening(sample), max_new_tokens=max_new_tokens)


def relevance_request(sample: Sample, passage: str) -> ChatRequest:
    return ChatRequest(messages=relevance_messages(sample, passage), max_new_tokens=1)


class ReflectiVAPrompt(Component):
    """The final prompt; without retrieval (or when no passage is kept and no fallback picks one)
    the retrieval prompt, whose continuation is the model's direct answer."""

    name = "reflectiva"
    version = "1"
    deviations = [
        "reflectiva prompt: with retrieval on and every passage rejected (fallback=none) the answer comes from the "
        "retrieval prompt; the reference always falls back to a random passage",
    ]

    def __init__(self, runtime: Runtime, short_prompt: bool = True, max_new_tokens: int | None = None) -> None:
        super().__init__(runtime, short_prompt=bool(short_prompt), max_new_tokens=max_new_tokens)
        self.short_prompt = bool(short_prompt)
        self.max_new_tokens = max_new_tokens

    def build(self, sample: Sample, passages: Sequence[Passage] | None, task: str) -> ChatRequest:
        if not passages:
            return retrieval_request(sample, self.max_new_tokens)
        return ChatRequest(messages=with_paragraph(sample, [p.text for p in passages], self.short_prompt),
                           max_new_tokens=self.max_new_tokens)

    def parse(self, raw: str) -> tuple[str | None, str]:
        return parse_plain_output(raw)
