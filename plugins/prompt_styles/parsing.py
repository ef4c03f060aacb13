"""Parsing a generator's output into (reasoning, answer), the ReAG way, minus its bugs.

The reference (``retrieval.py``, ``main``, under ``--extract_reasoning``)::

    pred_match = re.search(r'<answer>(.*?)</answer>', output)      # no DOTALL
    thinking_match = re.search(r'<think>(.*?)</think>', output)     # no DOTALL
    if pred_match: output = pred_match.group(1)
    elif args.strict_parsing: output = "Error: parsing"
    elif "<answer>" in output: output = text after the first "<answer>"
    elif "</think>" in output: output = text after the first "</think>"
    output = output with every <answer>, </answer>, <think>, </think> removed, stripped

Here both searches use DOTALL (multi-line answers and reasoning are found), a strict-mode
miss gives the empty answer instead of the string "Error: parsing", and the output may start
inside the think block: the generator returns only new text, so a forced ``<think>`` prefix
is not part of it (the reference's decoded output kept it).
"""

from __future__ import annotations

import re

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
_TAGS = (ANSWER_OPEN, ANSWER_CLOSE, THINK_OPEN, THINK_CLOSE)
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def strip_tags(text: str) -> str:
    """Remove every think/answer tag and surrounding whitespace (the reference's last step)."""
    for tag in _TAGS:
        text = text.replace(tag, "")
    return text.strip()


def extract_reasoning(raw: str, starts_in_think: bool = True) -> str | None:
    """The text of the first think block, or None when there is none.

    ``starts_in_think``: the prompt ended with a forced ``<think>``, so text before a
    ``</think>`` that has no opening tag of its own is reasoning, and so is the text before
    ``<answer>`` when the block was never closed.
    """
    close = raw.find(THINK_CLOSE)
    open_ = raw.find(THINK_OPEN)
    if open_ != -1 and (close == -1 or open_ < close):
        start = open_ + len(THINK_OPEN)
        end = close if close != -1 else raw.find(ANSWER_OPEN, start)
        return strip_tags(raw[start:] if end == -1 else raw[start:end])
    if close != -1:  # a closing tag with no opening tag before it
        return strip_tags(raw[:close])
    if starts_in_think:
        answer_at = raw.find(ANSWER_OPEN)
        if answer_at > 0:
            return strip_tags(raw[:answer_at])
    return None


def extract_answer(raw: str, strict: bool = False) -> str:
    """The answer: inside the first ``<answer>…</answer>`` (multi-line); else, unless
    ``strict``, the text after the first ``<answer>``, else after the first ``</think>``,
    else the whole output; tags and whitespace stripped. A strict miss gives ``""``."""
    match = _ANSWER_RE.search(raw)
    if match:
        text = match.group(1)
    elif strict:
        return ""
    elif ANSWER_OPEN in raw:
        text = raw[raw.index(ANSWER_OPEN) + len(ANSWER_OPEN):]
    elif THINK_CLOSE in raw:
        text = raw[raw.index(THINK_CLOSE) + len(THINK_CLOSE):]
    else:
        text = raw
    return strip_tags(text)


def parse_reasoning_output(
    raw: str | None, strict: bool = False, starts_in_think: bool = True
) -> tuple[str | None, str]:
    """(reasoning, answer) of an R1-style output; see the module docstring."""
    if not raw:
        return None, ""
    return extract_reasoning(raw, starts_in_think), extract_answer(raw, strict)


def parse_plain_output(raw: str | None) -> tuple[str | None, str]:
    """(None, answer) without reasoning tags: the whole output, whitespace-stripped.

    The reference keeps a non-reasoning output untouched; stripping changes no score.
    """
    return None, (raw or "").strip()


def format_respected(raw: str | None) -> bool:
    """Whether the output has a complete ``<answer>…</answer>`` (the reference's FORMAT_RESPECTED)."""
    return bool(raw) and _ANSWER_RE.search(raw) is not None
