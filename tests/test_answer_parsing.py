"""The answer parser on tricky outputs (reference: retrieval.py, main, under --extract_reasoning)."""

from __future__ import annotations

import pytest

from reag_harness.interfaces import Runtime
from reag_harness.plugins.prompt_styles.direct import Direct
from reag_harness.plugins.prompt_styles.parsing import (
    extract_answer,
    format_respected,
    parse_reasoning_output,
    strip_tags,
)
from reag_harness.plugins.prompt_styles.reag_reasoning import ReagReasoning


@pytest.mark.parametrize(
    ("raw", "reasoning", "answer"),
    [
        # the generator returns only new text: the forced "<think>" is not in it
        ("The bird is a warbler.</think>\n<answer>Myrtle Warbler</answer>", "The bird is a warbler.", "Myrtle Warbler"),
        # ... but an output that repeats it parses the same
        ("<think>x</think><answer> 1988 </answer>", "x", "1988"),
        # multi-line reasoning and answer (the reference's regexes have no DOTALL)
        ("step 1\nstep 2</think>\n<answer>coarse loams\nand clays</answer>", "step 1\nstep 2",
         "coarse loams\nand clays"),
        # stopped at </answer> but the stop string was cut off: text after <answer>
        ("r</think><answer>Paris", "r", "Paris"),
        # no answer tags: text after </think>
        ("reasoning</think>\n Rome \n", "reasoning", "Rome"),
        # no tags at all: the whole output
        ("  just an answer\n", None, "just an answer"),
        # duplicated answers: the first; nested tags are stripped
        ("r</think><answer>A</answer><answer>B</answer>", "r", "A"),
        ("r</think><answer><answer>A</answer></answer>", "r", "A"),
        # a think block that never closes: reasoning up to <answer>
        ("thinking <answer>42</answer>", "thinking", "42"),
        # duplicated think blocks: the first one
        ("<think>one</think><think>two</think><answer>ok</answer>", "one", "ok"),
        # empty
        ("", None, ""),
        ("<answer></answer>", None, ""),
    ],
)
def test_parse_reasoning_output(raw, reasoning, answer):
    assert parse_reasoning_output(raw) == (reasoning, answer)


def test_strict_mode_needs_a_complete_answer_block():
    assert extract_answer("r</think><answer>Paris", strict=True) == ""
    assert extract_answer("no tags", strict=True) == ""
    assert extract_answer("<answer>multi\nline</answer>", strict=True) == "multi\nline"
    style = ReagReasoning(Runtime(), strict=True)
    assert style.parse("r</think><answer>Paris") == ("r", "")
    assert ReagReasoning(Runtime()).parse("r</think><answer>Paris") == ("r", "Paris")


def test_reference_fallback_order():
    # after the first <answer> wins over after </think>
    assert extract_answer("a</think>b<answer>c") == "c"
    # the first </think> is the one used
    assert extract_answer("a</think>b</think>c") == "bc"


def test_without_forced_think_plain_text_before_answer_is_not_reasoning():
    assert parse_reasoning_output("preamble <answer>x</answer>", starts_in_think=False) == (None, "x")


def test_plain_styles_keep_the_whole_output():
    assert Direct(Runtime()).parse("  <answer>x</answer> \n") == (None, "<answer>x</answer>")
    assert Direct(Runtime()).parse("") == (None, "")


def test_helpers():
    assert strip_tags(" <think>a</think><answer>b</answer> ") == "ab"
    assert format_respected("<answer>a\nb</answer>") and not format_respected("<answer>a")
    assert not format_respected(None)
