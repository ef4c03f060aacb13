"""The Qwen2.5-VL critic on the tiny checkpoint (CPU, fp32): P("Yes") at the last position."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from reag_harness.core.errors import HarnessError, InputError  # noqa: E402
from reag_harness.interfaces import Critic, Runtime  # noqa: E402
from reag_harness.models import qwen_vl  # noqa: E402
from reag_harness.prompts.reag import critic_messages  # noqa: E402
from reag_harness.records import Judgement, Passage, Sample  # noqa: E402

WORDS = "the river tower bird passage question built century cathedral mountain Paris named designed".split()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> list[tuple[Sample, Passage]]:
    """Pairs from three queries (two images, one without), passages of varied length."""
    root = tmp_path_factory.mktemp("critic_images")
    red, wide = root / "red.jpg", root / "wide.png"
    Image.new("RGB", (56, 84), (200, 10, 10)).save(red)
    Image.new("RGB", (140, 56), (10, 120, 30)).save(wide)
    rng = random.Random(0)
    samples = [Sample("q1", "What is the name of this tower?", str(red)),
               Sample("q2", "Who designed this bridge?", str(wide)),
               Sample("q3", "Which river runs through Paris?", None)]
    out = []
    for i in range(10):
        sample = samples[i % 3]
        out.append((sample, Passage(f"page{i % 3}", i, " ".join(rng.choices(WORDS, k=rng.randint(2, 40))))))
    return out


def critic(tiny_path: Path, batch_size: int | str = 4, **kwargs):
    from reag_harness.plugins.critics.qwen_critic import tiny_critic

    return tiny_critic(Runtime(device="cpu", dtype="float32", batch_size=batch_size), **kwargs)


def test_p_yes_is_a_probability_per_pair(tiny_path: Path, pairs) -> None:
    c = critic(tiny_path)
    assert isinstance(c, Critic) and c.threshold == 0.5
    scores = c.p_yes(pairs)
    assert len(scores) == len(pairs)
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in scores)
    assert max(scores) > 0.5 > min(scores)  # the tiny model's P(Yes) spreads, so thresholds mean something
    assert c.p_yes([]) == []


def test_p_yes_equals_full_vocab_softmax_at_last_position(tiny_path: Path, pairs) -> None:
    scores = critic(tiny_path).p_yes(pairs)
    index = min(range(len(pairs)), key=lambda i: abs(math.log(scores[i] + 1e-30) - math.log(0.3)))
    sample, passage = pairs[index]
    assert sample.image is not None and 1e-3 < scores[index] < 0.99, scores
    # Independently of the harness's loader: the Auto classes, the chat template, one forward pass.
    processor = transformers.AutoProcessor.from_pretrained(tiny_path)
    model = transformers.AutoModelForImageTextToText.from_pretrained(tiny_path, dtype=torch.float32).eval()
    messages = critic_messages(sample.image, sample.question, passage.text)
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    image = Image.open(sample.image).convert("RGB")
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1].float()
    probs = torch.softmax(logits, dim=-1)
    yes = processor.tokenizer.convert_tokens_to_ids("Yes")
    no = processor.tokenizer.convert_tokens_to_ids("No")
    expected = float(probs[yes])
    got = critic(tiny_path).p_yes([(sample, passage)])[0]
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert scores[index] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert got != pytest.approx(float(probs[yes] / (probs[yes] + probs[no])), rel=1e-3)  # not renormalised


def test_batching_and_padding_do_not_change_scores(tiny_path: Path, pairs) -> None:
    batched = critic(tiny_path, batch_size=4).p_yes(pairs)
    one_by_one = critic(tiny_path, batch_size=1).p_yes(pairs)
    auto = critic(tiny_path, batch_size="auto").p_yes(pairs)
    for a, b, c in zip(batched, one_by_one, auto):
        assert abs(a - b) < 1e-5 and abs(c - b) < 1e-5
        if b > 1e-8:  # also on a log scale, so that tiny probabilities are compared too
            assert math.log(a) == pytest.approx(math.log(b), abs=1e-3)


def test_order_is_preserved(tiny_path: Path, pairs) -> None:
    c = critic(tiny_path, batch_size=3)
    scores = c.p_yes(pairs)
    perm = list(range(len(pairs)))
    random.Random(1).shuffle(perm)
    shuffled = c.p_yes([pairs[i] for i in perm])
    assert shuffled == pytest.approx([scores[i] for i in perm], abs=1e-5)
    assert len({round(s, 6) for s in scores}) > len(scores) // 2  # distinct values, so order is really checked


def test_threshold_is_applied_when_reading(tiny_path: Path, pairs) -> None:
    low, high = critic(tiny_path, threshold=0.1), critic(tiny_path, threshold=0.9)
    assert low.identity() == high.identity()  # a threshold sweep reuses stored scores
    scores = low.p_yes(pairs[:3])
    judgement = Judgement("q", tuple(scores))
    assert judgement.kept(3, low.threshold) == [i for i, p in enumerate(scores) if p > 0.1]


def test_yes_must_be_a_single_token(tiny_path: Path) -> None:
    tok = qwen_vl.load_qwen_processor(str(tiny_path)).tokenizer
    assert qwen_vl.single_token_id(tok, "Yes") == tok.convert_tokens_to_ids("Yes")
    with pytest.raises(HarnessError, match="expected one"):
        qwen_vl.single_token_id(tok, "Yesterday's weather")


def test_missing_image_is_an_input_error(tiny_path: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.jpg")
    with pytest.raises(InputError) as info:
        critic(tiny_path).p_yes([(Sample("q", "What?", missing), Passage("p", 0, "text"))])
    assert info.value.field == "image" and missing in str(info.value)


def test_reag_critic_factory_defaults(tiny_path: Path) -> None:
    from reag_harness.core.plugin_manager import get_registry

    registry = get_registry()
    c = registry.create("critic", "reag-critic", Runtime(), {})
    assert c.name == "reag-critic" and c.pretrained == "aimagelab/ReAG-Critic" and c.threshold == 0.5
    c = registry.create("critic", "reag-critic", Runtime(), {"pretrained": str(tiny_path), "threshold": 0.1})
    assert c.threshold == 0.1 and c.identity()["checkpoint"]["path"] == str(tiny_path.resolve())
    assert registry.create("critic", "tiny-critic", Runtime(), {}).name == "tiny-critic"
