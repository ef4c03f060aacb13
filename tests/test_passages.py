"""Passages exactly as the ReAG reference computes them (EVQA sections; InfoSeek 300-token packs)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from reag_harness.data.kb.memory import InMemoryKB
from reag_harness.data.kb.passages import infoseek_passages, infoseek_passages_many, pack_sentences, sentencizer


@dataclass
class Span:
    text: str
    n: int

    def __len__(self) -> int:
        return self.n


def test_pack_fills_up_to_the_limit_inclusive():
    spans = [Span("a", 100), Span("b", 200), Span("c", 1)]
    assert pack_sentences(spans, 300) == ["a b", "c"]


def test_pack_long_sentence_alone_first_and_after_a_passage():
    # A sentence over the limit at the start is its own passage; after a non-empty passage it
    # first closes that passage, then stands alone until the next sentence closes it.
    spans = [Span("L1", 500), Span("x", 10), Span("y", 10), Span("L2", 400), Span("z", 5)]
    assert pack_sentences(spans, 300) == ["L1", "x y", "L2", "z"]


def test_pack_empty():
    assert pack_sentences([], 300) == []


def _sentence(word: str, n_words: int) -> str:
    return " ".join([word] * (n_words - 1)) + " end."


def test_infoseek_passages_real_spacy_token_counts():
    # Each sentence: n_words-1 words + "end" + "." = n_words + 1 spaCy tokens.
    s1, s2, s3 = _sentence("alpha", 149), _sentence("beta", 149), _sentence("gamma", 10)
    text = f"{s1} {s2} {s3}"
    assert [len(s) for s in sentencizer()(text).sents] == [150, 150, 11]
    assert infoseek_passages(text) == [f"{s1} {s2}", s3]
    assert list(infoseek_passages_many([text, s3])) == [[f"{s1} {s2}", s3], [s3]]


def test_infoseek_whitespace_tokens_kept_as_the_reference():
    # spaCy makes "\n\n" a token of the second sentence: its span text starts with it, and the
    # reference joins span texts with one space, so the passage keeps it (and counts it).
    text = "First one here.\n\nSecond   one here."
    assert [len(s) for s in sentencizer()(text).sents] == [4, 6]
    assert infoseek_passages(text) == ["First one here. \n\nSecond   one here."]


def test_sentencizer_is_built_once():
    assert sentencizer() is sentencizer()


def test_inmemory_kb_passages_both_kinds():
    evqa = InMemoryKB({"u": {"title": "T", "section_texts": ["s0", "s1"]}})
    assert evqa.kind == "evqa" and evqa.passages("u") == ["s0", "s1"] and evqa.title("u") == "T"
    text = _sentence("w", 200) + " " + _sentence("v", 200)
    info = InMemoryKB({"p": {"wikipedia_content": text}})
    assert info.kind == "infoseek" and info.passages("p") == infoseek_passages(text) and len(info.passages("p")) == 2
    with pytest.raises(KeyError):
        info.passages("nope")


def test_inmemory_kb_rejects_bad_page():
    from reag_harness.core.errors import InputError

    with pytest.raises(InputError, match="section_texts"):
        InMemoryKB({"u": {"title": "T", "section_texts": "not a list"}}, kind="evqa")
