"""The ReAG reference's prompt texts, in one place.

PLACEHOLDER: gist only (from shared/spec/pipeline.md). The verbatim strings from
aimagelab/ReAG ``src/retrieval_module/prompts.py`` and ``src/critic_module/critic.py``
replace these (issue 5). The functions' signatures are the stable API.
"""

from __future__ import annotations

from typing import Any

CRITIC_SYSTEM_PROMPT = (
    "You are a relevance judge for knowledge-based visual question answering. Answer \"Yes\" if even one "
    "sentence of the passage helps answer the question, otherwise \"No\". Answer in one word."
)


def critic_messages(image: str | None, question: str, passage: str) -> list[dict[str, Any]]:
    """The critic's chat: system prompt; user turn = image, question, passage, yes/no question."""
    content: list[dict[str, Any]] = []
    if image is not None:
        content.append({"type": "image", "image": image})
    content.append({"type": "text", "text": f"Question: {question}\nPassage: {passage}\n"
                    "Does the passage help answer the question? Answer Yes or No."})
    return [{"role": "system", "content": [{"type": "text", "text": CRITIC_SYSTEM_PROMPT}]},
            {"role": "user", "content": content}]
