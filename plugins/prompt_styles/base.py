"""The generator prompt of the ReAG reference, built once for every prompt style.

``retrieval.py`` composes the generator's input from independent flags; each style here is
this one class with other defaults, and every flag stays an argument of every style:

=====================  =====================  ==============================================
reference flag         argument               effect
=====================  =====================  ==============================================
--extract_reasoning    ``extract_reasoning``  R1 system prompt, stop at ``</answer>``, tag parsing
--force_reasoning      ``force_reasoning``    ``<think>`` appended after the generation prompt
--strict_parsing       ``strict``             no fallback when ``<answer>…</answer>`` is missing
--all_filtered         ``all_filtered``       bare question when the critic kept nothing
--few_shots            ``few_shots``          few-shot prefix (InfoSeek 3, EVQA 2 examples)
--short_prompt         ``short_prompt``       "\\nGive a short answer.\\nShort answer: " appended
--only_question        ``only_question``      no retrieval: the bare question, not VQA_PROMPT
--max_new_tokens       ``max_new_tokens``     None leaves it to the generator (reference 4096)
(not in the reference)  ``text_only``          no image item: for text-only generators (hf-llm)
(not in the reference)  ``page_images``        the kept pages' images after the query image (page_images.py)
=====================  =====================  ==============================================

The user turn is the image, then the text; the text is, in order: the question wrapped with
the context (or the no-retrieval prompt), the few-shot prefix before it, the short-answer
suffix after it.
"""

from __future__ import annotations

from typing import Any, Sequence

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Component, Runtime
from reag_harness.prompts import reag as P
from reag_harness.records import ChatRequest, Passage, Sample

from .page_images import page_image_items
from .parsing import parse_plain_output, parse_reasoning_output

FEW_SHOT_SETS = ("auto", "infoseek", "evqa")


def format_context(passages: Sequence[Passage | str]) -> str:
    """``<paragraph>p</paragraph>`` per passage, joined by three newlines, then ``"."``."""
    texts = [p.text if isinstance(p, Passage) else p for p in passages]
    return P.PARAGRAPH_JOINER.join(P.PARAGRAPH_OPEN + t + P.PARAGRAPH_CLOSE for t in texts) + P.CONTEXT_END


def question_text(question: str, passages: Sequence[Passage | str] | None, *, all_filtered: bool,
                  only_question: bool) -> str:
    """The question with its context (reference ``main``, before the few shots).

    ``passages`` None: no retrieval (``VQA_PROMPT`` or, with ``only_question``, the bare
    question). An empty list: everything was filtered (the bare question with
    ``all_filtered``, else the context ``"."``).
    """
    if passages is None:
        return question if only_question else P.VQA_PROMPT.format(question=question, answer="")
    if not passages and all_filtered:
        return question
    return P.CONTEXT_VQA_PROMPT.format(question=question, context=format_context(passages))


def few_shot_set_for(task: str, choice: str = "auto") -> str:
    """Which few-shot examples a task gets: ``infoseek`` or ``evqa`` (by task name with ``auto``)."""
    if choice != "auto":
        return choice
    name = task.lower()
    for key in ("infoseek", "evqa"):
        if key in name:
            return key
    raise HarnessError(f"few-shot prompting has examples for InfoSeek and EVQA only; for task '{task}' "
                       "pass --prompt-style-args few_shot_set=infoseek (or evqa)")


class ReagPromptStyle(Component):
    """The reference's generator prompt; subclasses only change the class defaults below.

    An argument left at None takes the class default; :meth:`identity` records every
    resolved option, so a changed default changes the stage cache key.
    """

    version = "1"
    #: Deliberate differences from the ReAG reference, recorded in every run's results.
    deviations = [
        "parsing: <answer> extracted across lines (reference regex has no DOTALL)",
    ]
    extract_reasoning: bool = False
    force_reasoning: bool = False
    strict: bool = False
    all_filtered: bool = True
    few_shots: bool = False
    few_shot_set: str = "auto"
    short_prompt: bool = False
    only_question: bool = False
    max_new_tokens: int | None = None
    text_only: bool = False
    page_images: str | None = None  # JSON {page key: image path}: page images after the query image

    def __init__(self, runtime: Runtime, *, extract_reasoning: bool | None = None, force_reasoning: bool | None = None,
                 strict: bool | None = None, all_filtered: bool | None = None, few_shots: bool | None = None,
                 few_shot_set: str | None = None, short_prompt: bool | None = None, only_question: bool | None = None,
                 max_new_tokens: int | None = None, text_only: bool | None = None,
                 page_images: str | None = None) -> None:
        given = {"extract_reasoning": extract_reasoning, "force_reasoning": force_reasoning, "strict": strict,
                 "all_filtered": all_filtered, "few_shots": few_shots, "few_shot_set": few_shot_set,
                 "short_prompt": short_prompt, "only_question": only_question, "max_new_tokens": max_new_tokens,
                 "text_only": text_only, "page_images": page_images}
        given = {k: v for k, v in given.items() if v is not None}
        super().__init__(runtime, **given)
        for key, value in given.items():
            setattr(self, key, value if key in ("few_shot_set", "max_new_tokens", "page_images") else bool(value))
        if self.few_shot_set not in FEW_SHOT_SETS:
            raise HarnessError(f"few_shot_set must be one of {', '.join(FEW_SHOT_SETS)}, not '{self.few_shot_set}'")

    def options(self) -> dict[str, Any]:
        """Every resolved option (defaults included): what determines the prompt and the parse.

        ``text_only`` appears only when set, so the identities (cache keys) of image prompts stay as they were.
        """
        options = {
            "extract_reasoning": self.extract_reasoning, "force_reasoning": self.force_reasoning,
            "strict": self.strict, "all_filtered": self.all_filtered, "few_shots": self.few_shots,
            "few_shot_set": self.few_shot_set, "short_prompt": self.short_prompt,
            "only_question": self.only_question, "max_new_tokens": self.max_new_tokens,
        }
        if self.text_only:
            options["text_only"] = True
        if self.page_images:
            options["page_images"] = self.page_images
        return options

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "args": self.options()}

    def user_text(self, sample: Sample, passages: Sequence[Passage] | None, task: str) -> str:
        """The text of the user turn."""
        text = question_text(sample.question, passages, all_filtered=self.all_filtered,
                             only_question=self.only_question)
        if self.few_shots:
            key = few_shot_set_for(task, self.few_shot_set)
            text = P.FEW_SHOTS[key] + P.FEW_SHOT_SEPARATORS[key] + text
        if self.short_prompt:
            text += P.SHORT_PROMPT_SUFFIX
        return text

    def build(self, sample: Sample, passages: Sequence[Passage] | None, task: str) -> ChatRequest:
        messages: list[dict[str, Any]] = []
        if self.extract_reasoning:
            messages.append({"role": "system", "content": [{"type": "text", "text": P.SYSTEM_PROMPT_REASONING}]})
        content: list[dict[str, Any]] = []
        if sample.image is not None and not self.text_only:  # text_only: the explicit drop hf-llm requires
            content.append({"type": "image", "image": sample.image})
        if self.page_images and not self.text_only:  # several images in one prompt (page_images.py)
            content += page_image_items(self.page_images, passages)
        content.append({"type": "text", "text": self.user_text(sample, passages, task)})
        messages.append({"role": "user", "content": content})
        return ChatRequest(
            messages=messages,
            assistant_prefix=P.FORCED_REASONING_PREFIX if self.force_reasoning else "",
            stop=(P.REASONING_STOP,) if self.extract_reasoning else (),
            max_new_tokens=self.max_new_tokens,
        )

    def parse(self, raw: str) -> tuple[str | None, str]:
        if not self.extract_reasoning:
            return parse_plain_output(raw)
        return parse_reasoning_output(raw, strict=self.strict, starts_in_think=self.force_reasoning)
