"""Passages of a knowledge-base page, computed exactly as the ReAG reference does.

EVQA: each entry of ``section_texts`` is one passage. InfoSeek: ``wikipedia_content`` is split
into sentences with spaCy ``English()`` + ``sentencizer`` and the sentences are packed greedily
into passages of at most 300 spaCy tokens, joined by single spaces; a sentence that does not fit
starts a new passage (so a sentence longer than the limit ends up alone). The NLP pipeline is built
once per process (the reference rebuilds it for every page).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Iterator, Mapping

PASSAGE_TOKENS = 300
KB_KINDS = ("evqa", "infoseek")
# What determines the passages: part of every store's fingerprint.
PASSAGE_METHOD = {
    "evqa": {"method": "section_texts", "version": 1},
    "infoseek": {"method": "spacy-sentencizer-pack", "max_tokens": PASSAGE_TOKENS, "version": 1},
}


@lru_cache(maxsize=1)
def sentencizer() -> Any:
    """spaCy ``English()`` with the rule-based ``sentencizer`` (no model download), built once."""
    from spacy.lang.en import English

    nlp = English()
    nlp.add_pipe("sentencizer")
    # The reference keeps spaCy's 1M-character limit and crashes on a longer page; the sentencizer
    # needs no parser memory, so we lift it and compute what the reference would have computed.
    nlp.max_length = 10**9
    return nlp


def pack_sentences(sentences: Iterable[Any], n: int = PASSAGE_TOKENS) -> list[str]:
    """Greedy packing of spaCy sentence spans into passages of at most ``n`` tokens.

    Reproduces ``uniform_passages_of_sentences`` of the ReAG retriever: a sentence is added while
    the running token count stays <= n; otherwise the current passage is closed and the sentence
    starts the next one (or, when the current passage is empty, becomes a passage by itself).
    """
    passages: list[str] = []
    passage: list[str] = []
    tokens = 0
    for sent in sentences:
        size = len(sent)
        if tokens + size > n:
            if passage:
                passages.append(" ".join(passage))
                passage = [sent.text]
                tokens = size
            else:
                passages.append(sent.text)
        else:
            passage.append(sent.text)
            tokens += size
    if passage:
        passages.append(" ".join(passage))
    return passages


def infoseek_passages(text: str, n: int = PASSAGE_TOKENS) -> list[str]:
    """The 300-token sentence packs of one InfoSeek ``wikipedia_content``."""
    return pack_sentences(sentencizer()(text).sents, n)


def infoseek_passages_many(texts: Iterable[str], n: int = PASSAGE_TOKENS, batch_size: int = 64) -> Iterator[list[str]]:
    """Like :func:`infoseek_passages` for many texts, through ``nlp.pipe`` (same output, faster)."""
    for doc in sentencizer().pipe(texts, batch_size=batch_size):
        yield pack_sentences(doc.sents, n)


def page_text_field(kind: str) -> str:
    """The entry field the passages come from: ``section_texts`` (EVQA) or ``wikipedia_content`` (InfoSeek)."""
    if kind not in KB_KINDS:
        raise ValueError(f"unknown knowledge-base kind {kind!r} (expected one of {', '.join(KB_KINDS)})")
    return "section_texts" if kind == "evqa" else "wikipedia_content"


def check_entry(kind: str, entry: Any) -> tuple[str | None, str] | None:
    """Why ``entry`` is not a valid page of a ``kind`` KB, as ``(field, message)``; None when valid."""
    if not isinstance(entry, Mapping):
        return None, f"a page must be a JSON object, got {type(entry).__name__}"
    field = page_text_field(kind)
    if field not in entry:
        return field, "is missing"
    value = entry[field]
    if kind == "evqa":
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            return field, "must be a list of strings"
    elif not isinstance(value, str):
        return field, f"must be a string, got {type(value).__name__}"
    title = entry.get("title")
    if title is not None and not isinstance(title, str):
        return "title", "must be a string"
    return None


def page_passages(kind: str, entry: Mapping[str, Any]) -> list[str]:
    """The passages of one (valid) KB entry."""
    if kind == "evqa":
        return list(entry["section_texts"])
    return infoseek_passages(entry["wikipedia_content"])


def page_title(entry: Mapping[str, Any]) -> str:
    """``title``, else the first section title, else ''."""
    title = entry.get("title")
    if isinstance(title, str):
        return title
    sections = entry.get("section_titles")
    if isinstance(sections, list) and sections and isinstance(sections[0], str):
        return sections[0]
    return ""
