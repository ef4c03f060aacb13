"""Golden tests: the exact chat-templated prompt text of the critic and of every prompt style.

The goldens under tests/goldens/prompts/ are pinned to the reference's strings: each must equal
the text written out by hand in tests/data/reag_reference_prompts.py from aimagelab/ReAG
(src/retrieval_module/prompts.py, retrieval.py, src/critic_module/critic.py) with the
Qwen2.5-VL chat template spelled out, which imports nothing of the harness. Our rendering must
equal the goldens. Nothing here writes a golden: change one only from the reference, in both
places. Rendering uses the tiny Qwen2.5-VL processor (the real chat template).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reag_harness.core.errors import HarnessError
from reag_harness.core.plugin_manager import get_registry
from reag_harness.interfaces import Runtime
from reag_harness.prompts import reag as P
from reag_harness.records import ChatRequest, Passage, Sample

from .data import reag_reference_prompts as REF

GOLDENS = Path(__file__).parent / "goldens" / "prompts"

SAMPLE = Sample(id="golden-1", question="What is the closest parent taxonomy of this bird?",
                image="/data/images/bird.jpg", references=("Myrtle Warbler",))
PASSAGES = [
    Passage("https://en.wikipedia.org/wiki/Myrtle_warbler", 0,
            "The myrtle warbler (Setophaga coronata) is a small New World warbler."),
    Passage("https://en.wikipedia.org/wiki/Myrtle_warbler", 1, "It has white tail patches."),
]


@pytest.fixture(scope="module")
def render():
    """messages -> chat-templated text with the generation prompt (the tiny checkpoint's real Qwen template)."""
    from transformers import AutoProcessor

    from reag_harness.models.tiny.qwen import tiny_qwen25vl_path

    processor = AutoProcessor.from_pretrained(tiny_qwen25vl_path())
    return lambda messages: processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def check_golden(name: str, text: str) -> None:
    path = GOLDENS / f"{name}.txt"
    assert path.is_file(), f"missing golden {path}"
    assert text == path.read_text(encoding="utf-8"), f"prompt differs from golden {path.name}"


def test_goldens_are_the_reference_prompts_written_out_by_hand():
    """Each golden file is the reference's text for its flags (tests/data/reag_reference_prompts.py)."""
    assert sorted(p.stem for p in GOLDENS.glob("*.txt")) == sorted(REF.EXPECTED) and len(REF.EXPECTED) == 10
    for name, expected in REF.EXPECTED.items():
        assert (GOLDENS / f"{name}.txt").read_text(encoding="utf-8") == expected, f"golden {name}.txt"


def test_prompt_constants_are_the_reference_strings():
    """reag_prompts.py's constants equal the reference's literals, transcribed independently."""
    assert P.SYSTEM_PROMPT_REASONING == REF.SYSTEM_PROMPT_REASONING
    assert P.CONTEXT_VQA_PROMPT == REF.CONTEXT_VQA_PROMPT_training
    assert P.VQA_PROMPT == REF.VQA_PROMPT
    assert P.INFOSEEK_FEW_SHOTS == REF.INFOSEEK_FEW_SHOTS and P.EVQA_FEW_SHOTS == REF.EVQA_FEW_SHOTS
    assert P.RELEVANCY_EVAL_SYSTEM_PROMPT == REF.RELEVANCY_EVAL_SYSTEM_PROMPT
    assert P.SECTION_EVAL_USER_TEMPLATE == REF.SECTION_EVAL_USER_TEMPLATE
    assert P.SHORT_PROMPT_SUFFIX == REF.SHORT and P.FORCED_REASONING_PREFIX == REF.THINK
    assert [SAMPLE.question, [p.text for p in PASSAGES]] == [REF.QUERY, REF.SECTIONS]  # the goldens' inputs


def style(name: str, **args):
    return get_registry().create("prompt_style", name, Runtime(), args)


def full_text(render, request: ChatRequest) -> str:
    """What the generator feeds the model: the templated chat plus the assistant prefix."""
    return render(list(request.messages)) + request.assistant_prefix


def test_critic_prompt_golden(render):
    check_golden("critic", render(P.critic_messages(SAMPLE.image, SAMPLE.question, PASSAGES[0].text)))


@pytest.mark.parametrize(
    ("golden", "name", "args", "passages", "task"),
    [
        ("reag_reasoning", "reag-reasoning", {}, PASSAGES, "infoseek"),
        ("reag_reasoning_all_filtered", "reag-reasoning", {}, [], "infoseek"),
        ("reag_reasoning_dot_context", "reag-reasoning", {"all_filtered": False}, [], "infoseek"),
        ("reag_reasoning_no_retrieval", "reag-reasoning", {}, None, "infoseek"),
        ("few_shot_infoseek", "few-shot", {}, PASSAGES, "infoseek"),
        ("few_shot_evqa", "few-shot", {}, PASSAGES, "evqa"),
        ("short", "short", {}, PASSAGES, "evqa"),
        ("direct", "direct", {}, None, "evqa"),
        ("only_question", "only-question", {}, None, "evqa"),
    ],
)
def test_prompt_style_goldens(render, golden, name, args, passages, task):
    request = style(name, **args).build(SAMPLE, passages, task)
    check_golden(golden, full_text(render, request))


def test_reasoning_request_fields():
    request = style("reag-reasoning").build(SAMPLE, PASSAGES, "evqa")
    assert request.assistant_prefix == "<think>" and request.stop == ("</answer>",)
    assert request.messages[0] == {"role": "system", "content": [{"type": "text", "text": P.SYSTEM_PROMPT_REASONING}]}
    assert request.messages[1]["content"][0] == {"type": "image", "image": SAMPLE.image}
    plain = style("direct").build(SAMPLE, None, "evqa")
    assert plain.assistant_prefix == "" and plain.stop == () and plain.messages[0]["role"] == "user"


def test_context_wrapper_exact():
    text = style("direct").build(SAMPLE, PASSAGES, "evqa").messages[0]["content"][1]["text"]
    assert text == (
        "What is the closest parent taxonomy of this bird?\n\nThe following paragraphs may contain useful "
        "information to help answer the question correctly:\n<paragraph>The myrtle warbler (Setophaga coronata) is a "
        "small New World warbler.</paragraph>\n\n\n<paragraph>It has white tail patches.</paragraph>.\n"
    )


def test_filtered_context_variants():
    assert style("reag-reasoning").user_text(SAMPLE, [], "evqa") == SAMPLE.question
    dot = style("reag-reasoning", all_filtered=False).user_text(SAMPLE, [], "evqa")
    assert dot.endswith("correctly:\n.\n")


def test_few_shot_order_and_short_suffix():
    text = style("few-shot", short_prompt=True).user_text(SAMPLE, None, "infoseek")
    assert text.startswith(P.INFOSEEK_FEW_SHOTS + "\n\n\nAnswer the question based on the image above.")
    assert text.endswith("Question: " + SAMPLE.question + "\n\n" + "\nGive a short answer.\nShort answer: ")
    evqa = style("few-shot").user_text(SAMPLE, None, "evqa-test")
    assert evqa.startswith(P.EVQA_FEW_SHOTS + "\n\nAnswer")


def test_few_shot_needs_a_known_task():
    with pytest.raises(HarnessError, match="few_shot_set"):
        style("few-shot").build(SAMPLE, PASSAGES, "demo")
    assert style("few-shot", few_shot_set="evqa").user_text(SAMPLE, [], "demo").startswith(P.EVQA_FEW_SHOTS)


def test_reference_string_details():
    """Spot checks of details that are easy to lose when copying the reference."""
    assert P.INFOSEEK_FEW_SHOTS.count("Example ") == 3 and P.EVQA_FEW_SHOTS.count("Example ") == 2
    assert "exceptionally 40\xa0cm" in P.INFOSEEK_FEW_SHOTS and '"Old World war bler"' in P.INFOSEEK_FEW_SHOTS
    assert "concert.\nin 2001" in P.EVQA_FEW_SHOTS  # the original's "\n" escapes are newlines
    assert P.SECTION_EVAL_USER_TEMPLATE.endswith('"Yes"/"No" answer: ')
    assert "information usefule to answer the user question? \n" in P.SECTION_EVAL_USER_TEMPLATE
    assert P.RELEVANCY_EVAL_SYSTEM_PROMPT.endswith("irrelevant or unhelpful.")
    assert "answer \u201cYes\u201d." in P.RELEVANCY_EVAL_SYSTEM_PROMPT
    vqa = P.VQA_PROMPT.format(question="Q?", answer="")
    assert vqa == "Answer the question based on the image above.\n\nQuestion: Q?\n\n"


def test_identity_records_resolved_defaults():
    ident = style("reag-reasoning").identity()
    assert ident["args"]["extract_reasoning"] is True and ident["args"]["all_filtered"] is True
    assert style("reag-reasoning", strict=True).identity() != ident
