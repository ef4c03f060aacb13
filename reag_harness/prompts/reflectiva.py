"""ReflectiVA's prompt texts, reflective tokens and chats, verbatim from the reference, in one place.

Source: ``aimagelab/ReflectiVA`` (``rag_evaluation/{infoseek,encyclopedic}/release_retrieval.py``,
``llava/conversation.py``, ``llava/train/train.py``). Three chats share one opening: the system
prompt of ``conv_llava_llama_3_1`` and a user turn ``"<image>\\n\\n" + question``
(``IMAGE_TOKEN = f"{DEFAULT_IMAGE_TOKEN}\\n\\n"``); the relevance and final chats add an assistant
``"[Retrieval]"`` and a user turn with the passages in one ``<paragraph>`` pair. The prompt style
(``plugins/prompt_styles/reflectiva.py``), the generator's ``[RET]`` gate, the ``reflectiva-rel``
critic and the tiny checkpoint's calibration all build their chats here.
"""

from __future__ import annotations

from typing import Any, Sequence

from reag_harness.records import Sample

SOURCE = "aimagelab/ReflectiVA@3c05015f66fd034b4c920f0eae0e4fa227b766e0"
SYSTEM = ("You are a helpful language and vision assistant. You are able to understand the visual content that the "
          "user provides, and assist the user with a variety of tasks using natural language.")
AFTER_IMAGE = "\n\n"
RETRIEVAL_TURN = "[Retrieval]"
TEMPLATE = "Consider this paragraph: "
PARAGRAPH_OPEN, PARAGRAPH_CLOSE = "<paragraph>", "</paragraph>"
SHORT_SUFFIX = ". Give a short answer."

#: The six reflective tokens by role, in id order (ids 128250-128255 of the Llama-3.1 vocabulary,
#: ``llava/train/train.py``); a smaller vocabulary (the tiny checkpoint) holds them under these names.
REFLECTIVE_TOKENS = {"no_retrieval": "[No Retrieval]", "retrieval": "[Retrieval]", "no_relevant": "[No Relevant]",
                     "relevant": "[Relevant]", "paragraph_open": "<paragraph>", "paragraph_close": "</paragraph>"}


def opening(sample: Sample) -> list[dict[str, Any]]:
    """System turn and the user turn with the image and the question."""
    content: list[dict[str, Any]] = []
    if sample.image is not None:
        content.append({"type": "image", "image": sample.image})
    content.append({"type": "text", "text": AFTER_IMAGE + sample.question if sample.image else sample.question})
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def with_paragraph(sample: Sample, texts: Sequence[str], short: bool) -> list[dict[str, Any]]:
    """The relevance / final chat: the passages in one ``<paragraph>`` pair after ``[Retrieval]``."""
    text = TEMPLATE + PARAGRAPH_OPEN + "".join(texts) + PARAGRAPH_CLOSE + (SHORT_SUFFIX if short else "")
    return [*opening(sample), {"role": "assistant", "content": RETRIEVAL_TURN}, {"role": "user", "content": text}]


def relevance_messages(sample: Sample, passage: str) -> list[dict[str, Any]]:
    """The relevance (``[REL]`` critic) chat for one passage (stripped, no short-answer suffix)."""
    return with_paragraph(sample, [passage.strip()], short=False)
