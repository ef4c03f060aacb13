"""The generic HF VLM / text-LM path on each family's tiny checkpoint (CPU, fp32; no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from reag_harness.api import evaluate  # noqa: E402
from reag_harness.core.errors import HarnessError  # noqa: E402
from reag_harness.core.plugin_manager import get_registry, register_plugin, unregister_plugin  # noqa: E402
from reag_harness.interfaces import Runtime  # noqa: E402
from reag_harness.models import hf_loading, hf_prompts, hf_vlm  # noqa: E402
from reag_harness.models.families import adapter_for  # noqa: E402
from reag_harness.models.tiny import vlms as tiny_vlms  # noqa: E402
from reag_harness.prompts.reag import critic_messages  # noqa: E402
from reag_harness.records import ChatRequest, Passage, Sample  # noqa: E402

from . import pipeline_plugin  # noqa: E402

VLM_FAMILIES = ["qwen2.5-vl", "qwen2-vl", "llava", "llava-onevision", "internvl", "smolvlm", "gemma3", "blip-2"]
MODEL_CLASSES = {
    "qwen2.5-vl": "Qwen2_5_VLForConditionalGeneration", "qwen2-vl": "Qwen2VLForConditionalGeneration",
    "llava": "LlavaForConditionalGeneration", "llava-onevision": "LlavaOnevisionForConditionalGeneration",
    "internvl": "InternVLForConditionalGeneration", "smolvlm": "SmolVLMForConditionalGeneration",
    "gemma3": "Gemma3ForConditionalGeneration", "blip-2": "Blip2ForConditionalGeneration",
}


@pytest.fixture(scope="session")
def tiny_checkpoints(harness_cache) -> dict[str, Path]:
    """Every tiny checkpoint, built once per test session."""
    return tiny_vlms.build_all()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("hf_vlm_images")
    out = {}
    for name, size, colour in (("red", (56, 84), (200, 10, 10)), ("wide", (140, 56), (10, 120, 30))):
        out[name] = str(root / f"{name}.jpg")
        Image.new("RGB", size, colour).save(out[name])
    return out


def chat(text: str, image: str | None = None, system: str | None = None) -> list[dict]:
    content = ([{"type": "image", "image": image}] if image else []) + [{"type": "text", "text": text}]
    messages = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    return messages + [{"role": "user", "content": content}]


def build(kind: str, name: str, batch_size: int = 4, **args):
    return get_registry().create(kind, name, Runtime(device="cpu", dtype="float32", batch_size=batch_size), args)


# ---------------------------------------------------------------------------------------
# Each family: tiny checkpoint, generator, critic, pipeline
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_tiny_checkpoint_loads_through_the_auto_classes(family, tiny_checkpoints) -> None:
    path = tiny_checkpoints[family]
    assert sum(f.stat().st_size for f in path.iterdir()) < 4_000_000
    model = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    processor = transformers.AutoProcessor.from_pretrained(path)
    assert type(model).__name__ == MODEL_CLASSES[family]
    assert adapter_for(model.config.model_type).model_types  # every family has its named adapter
    if family != "blip-2":  # BLIP-2 has no chat template: its adapter writes the plain prompt
        assert processor.chat_template


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_generator_batches_in_input_order_and_reports_each_batch(family, tiny_checkpoints, images) -> None:
    requests = [
        ChatRequest(chat("What is this?", images["red"], system="Be brief."), assistant_prefix="<think>"),
        ChatRequest(chat("Who designed this bridge, and in which year was it opened?", images["wide"])),
        ChatRequest(chat("In which country is this mountain located?", images["red"]), max_new_tokens=4),
    ]
    if family != "blip-2":  # BLIP-2 needs an image in every prompt
        requests.append(ChatRequest(chat("Name the river.")))
    gen = build("generator", "hf-vlm", batch_size=2, pretrained=f"tiny:{family}")
    reported: list[tuple[list[int], list[str]]] = []
    batched = gen.generate(requests, on_batch=lambda idx, texts: reported.append((idx, texts)))
    assert all(isinstance(t, str) for t in batched) and len(batched) == len(requests)
    assert batched == [gen.generate([r])[0] for r in requests]  # left padding changes nothing, order kept
    assert sorted(i for idx, _ in reported for i in idx) == list(range(len(requests)))
    assert all(len(idx) <= 2 and [batched[i] for i in idx] == texts for idx, texts in reported)
    # greedy, max_new_tokens from the tiny checkpoint's generation config (16), a request's own limit wins
    full = gen.generate([ChatRequest(requests[2].messages)])[0]
    assert len(batched[2]) < len(full) and full.startswith(batched[2].rstrip("\ufffd"))
    stop = next(w for w in batched[0].split() if len(w) > 1)
    stopped = gen.generate([ChatRequest(requests[0].messages, requests[0].assistant_prefix, stop=(stop,))])[0]
    assert stopped == batched[0][: batched[0].find(stop) + len(stop)]


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_critic_is_full_vocab_p_yes_after_the_generation_prompt(family, tiny_checkpoints, images) -> None:
    samples = [Sample("q1", "What is the name of this tower?", images["red"]),
               Sample("q2", "Who designed this bridge?", images["wide"])]
    pairs = [(samples[i % 2], Passage("p", i, "The tower was built in 1887 by Gustave Eiffel." * (1 + i % 3)))
             for i in range(5)]
    critic = build("critic", "hf-vlm-critic", batch_size=2, pretrained=f"tiny:{family}")
    reported: list[list[int]] = []
    scores = critic.p_yes(pairs, on_batch=lambda idx, values: reported.append(idx))
    assert sorted(i for idx in reported for i in idx) == list(range(len(pairs)))
    assert all(0.0 <= p <= 1.0 for p in scores)
    assert scores == pytest.approx([critic.p_yes([p])[0] for p in pairs], rel=2e-3, abs=1e-7)
    # Independently: the Auto classes, the family's prompt, one forward pass, softmax over the vocabulary.
    path = tiny_checkpoints[family]
    processor = transformers.AutoProcessor.from_pretrained(path)
    model = transformers.AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).eval()
    sample, passage = pairs[0]
    messages = critic_messages(sample.image, sample.question, passage.text)
    if family == "blip-2":
        text = ("Question: " + messages[0]["content"][0]["text"] + "\n" + messages[1]["content"][1]["text"]
                + " Answer:")
    else:
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image = Image.open(sample.image).convert("RGB")
    nested = family in ("smolvlm", "gemma3")
    bos = processor.tokenizer.bos_token
    inputs = processor(text=[text], images=[[image]] if nested else [image], return_tensors="pt",
                       add_special_tokens=not (bos and text.startswith(bos)))
    with torch.no_grad():
        probs = torch.softmax(model(**inputs).logits[0, -1].float(), dim=-1)
    yes = critic.yes_token_id(critic.model_and_processor()[1])
    spelled = processor.tokenizer.decode([yes])
    assert spelled == ("Yes" if text[-1].isspace() else " Yes")
    assert scores[0] == pytest.approx(float(probs[yes]), rel=2e-3, abs=1e-7)


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_family_runs_the_demo_as_generator_and_critic(family, tiny_checkpoints, tmp_path) -> None:
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        res = evaluate(task="demo", retriever="test-title", critic="hf-vlm-critic", generator="hf-vlm",
                       critic_args={"pretrained": f"tiny:{family}", "threshold": 0.0},
                       generator_args={"pretrained": f"tiny:{family}"}, limit=4, quiet=True, no_leaderboard=True,
                       output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    finally:
        unregister_plugin("test-pipeline")
    assert res.n == 4
    folder = next((tmp_path / "runs").iterdir())
    assert json.loads((folder / "results.json").read_text())["components"]["generator"]["name"] == "hf-vlm"
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(isinstance(r["raw_output"], str) for r in rows)
    assert all(0 <= p["p_yes"] <= 1 for r in rows for p in r["passages"]) and any(r["passages"] for r in rows)


# ---------------------------------------------------------------------------------------
# Names, sharing, errors
# ---------------------------------------------------------------------------------------


def test_tiny_names_resolve_and_unknown_names_list_the_choices(tiny_checkpoints) -> None:
    gen = build("generator", "hf-vlm", pretrained="tiny:llava")
    assert gen.pretrained == str(tiny_checkpoints["llava"])
    assert gen.identity()["args"]["pretrained"] == "tiny:llava"
    assert gen.identity()["checkpoint"]["path"] == str(tiny_checkpoints["llava"])
    with pytest.raises(HarnessError, match="tiny:llava-onevision"):
        build("generator", "hf-vlm", pretrained="tiny:nope")


def test_critic_and_generator_share_one_loaded_checkpoint(tiny_checkpoints) -> None:
    hf_loading.clear_cache()
    before = dict(hf_loading.LOAD_COUNTS)
    gen = build("generator", "hf-vlm", pretrained="tiny:gemma3")
    critic = build("critic", "hf-vlm-critic", pretrained="tiny:gemma3")
    assert gen.model_and_processor()[0] is critic.model_and_processor()[0]
    assert hf_loading.LOAD_COUNTS["model"] - before["model"] == 1
    assert hf_loading.LOAD_COUNTS["processor"] - before["processor"] == 1


def test_gen_kwargs_reach_generate_and_sampling_is_seeded(tiny_checkpoints, images) -> None:
    request = [ChatRequest(chat("What is this?", images["red"]))]
    greedy = build("generator", "hf-vlm", pretrained="tiny:llava").generate(request)
    sampled = build("generator", "hf-vlm", pretrained="tiny:llava", do_sample=True, temperature=3.0, top_k=0)
    assert sampled.identity()["args"]["temperature"] == 3.0  # in the cache key
    first = sampled.generate(request)
    assert first != greedy and sampled.generate(request) == first  # seeded from --seed before each batch
    assert build("generator", "hf-vlm", pretrained="tiny:llava", max_new_tokens=3).generate(request)[0] != greedy[0]


def test_preflight_names_missing_checkpoints_before_any_stage(tmp_path, monkeypatch) -> None:
    import huggingface_hub.constants

    from reag_harness.core.preflight import PreflightError

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        with pytest.raises(PreflightError) as info:
            evaluate(task="demo", retriever="test-title", critic="hf-vlm-critic", generator="hf-vlm",
                     critic_args={"pretrained": "someone/never-downloaded-vlm"},
                     generator_args={"pretrained": str(tmp_path / "missing")}, limit=2, quiet=True,
                     no_leaderboard=True, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    finally:
        unregister_plugin("test-pipeline")
    message = str(info.value)
    assert f"generator hf-vlm: no checkpoint folder at '{tmp_path / 'missing'}'" in message
    assert "critic hf-vlm-critic: checkpoint 'someone/never-downloaded-vlm' is not in the local" in message
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").rglob("*.jsonl"))


def test_prompts_longer_than_the_model_are_clear_errors_and_generation_stops_at_its_end(tiny_checkpoints, images,
                                                                                        monkeypatch) -> None:
    # OPT: 2048 learned positions; no prompt bound ('auto' would stop the near-the-end prompt first, issue 20)
    gen = build("generator", "hf-vlm", pretrained="tiny:blip-2", max_prompt_tokens="none")
    model, processor = gen.model_and_processor()
    tokenizer = hf_loading.tokenizer_of(processor)

    def request(n_tokens: int) -> ChatRequest:
        return ChatRequest(chat(" ".join(["Paris"] * n_tokens), images["red"]))

    words = len(tokenizer.encode(hf_prompts.render(processor, request(100).messages).text)) - 100
    with pytest.raises(HarnessError, match="longer than the model's 2048 positions"):
        gen.generate([request(2100)])
    critic = build("critic", "hf-vlm-critic", pretrained="tiny:blip-2")
    with pytest.raises(HarnessError, match="longer than the model's 2048 positions"):
        critic.p_yes([(Sample("q", " ".join(["Paris"] * 2100), images["red"]), Passage("p", 0, "x"))])
    near = request(2048 - words - 4 - 6)  # 4 query tokens; room for ~6 new ones
    # The prompt built with the processor itself (BLIP-2's plain "Question: ... Answer:"), not the generator's code
    text = "Question: " + near.messages[0]["content"][1]["text"] + " Answer:"
    with Image.open(images["red"]) as im:
        inputs = processor(images=[im.convert("RGB")], text=[text], return_tensors="pt")
    room = 2048 - inputs["input_ids"].shape[1]
    assert 0 < room < model.generation_config.max_new_tokens == 16  # the model's end, not max_new_tokens, must stop it
    eos = model.generation_config.eos_token_id
    eos = set(eos) if isinstance(eos, list) else {eos}
    # An independent greedy loop (full forward passes, no generate, no cache) up to the last position or eos
    ids, expected = inputs["input_ids"], []
    with torch.inference_mode():
        while ids.shape[1] < 2048 and not (expected and expected[-1] in eos):
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                           pixel_values=inputs["pixel_values"]).logits
            expected.append(int(logits[0, -1].argmax()))
            ids = torch.cat([ids, torch.tensor([[expected[-1]]])], dim=1)
    calls = []
    real_generate = model.generate

    def recording_generate(*args, **kwargs):  # the real generate; its output ids kept to count them
        out = real_generate(*args, **kwargs)
        calls.append((kwargs["input_ids"], kwargs["pixel_values"], out))
        return out

    monkeypatch.setattr(model, "generate", recording_generate)
    near_the_end = gen.generate([near])[0]
    [(prompt_ids, pixel_values, out)] = calls
    assert prompt_ids.tolist() == inputs["input_ids"].tolist() and torch.equal(pixel_values, inputs["pixel_values"])
    new_ids = out[0, prompt_ids.shape[1]:].tolist()
    assert new_ids == expected and out.shape[1] <= 2048  # stopped at the model's last position (or at eos)
    assert len(new_ids) == room or (len(new_ids) < room and new_ids[-1] in eos)
    assert near_the_end == tokenizer.decode(expected, skip_special_tokens=True)


def test_yes_split_into_several_tokens_is_a_clear_error(tiny_checkpoints) -> None:
    _, processor = hf_vlm.load_vlm("tiny:llava")
    assert hf_prompts.answer_token_id(processor, "Yes") == \
        hf_loading.tokenizer_of(processor).convert_tokens_to_ids("ĠYes")
    with pytest.raises(HarnessError, match="one token"):
        hf_prompts.answer_token_id(processor, "Yesterday's weather")


def test_blip2_prompt_is_plain_question_answer(tiny_checkpoints, images) -> None:
    _, processor = hf_vlm.load_vlm("tiny:blip-2")
    prompt = hf_prompts.render(processor, chat("What is this?", images["red"], system="Be brief."))
    assert prompt.text == "Question: Be brief.\nWhat is this? Answer:"
    with pytest.raises(HarnessError, match="needs an image"):
        hf_prompts.render(processor, chat("What is this?"))


def test_max_pixels_bounds_the_images_of_every_family(tiny_checkpoints, images) -> None:
    _, processor = hf_vlm.load_vlm("tiny:llava-onevision", max_pixels=28 * 28)
    assert hf_prompts.prepared_image(processor, images["wide"]).size[0] * \
        hf_prompts.prepared_image(processor, images["wide"]).size[1] <= 28 * 28
    _, qwen = hf_vlm.load_vlm("tiny:qwen2-vl", max_pixels=28 * 28 * 4)
    assert qwen.image_processor.size.longest_edge == 28 * 28 * 4  # Qwen-VL: the processor applies the bound


# ---------------------------------------------------------------------------------------
# hf-llm: a text-only LM; requests carry no image
# ---------------------------------------------------------------------------------------


def test_hf_llm_generates_from_string_turns_and_refuses_images(tiny_checkpoints, images) -> None:
    gen = build("generator", "hf-llm", batch_size=2, pretrained="tiny:llama")
    model, tokenizer = gen.model_and_processor()
    assert type(model).__name__ == "LlamaForCausalLM"
    prompt = hf_prompts.render(tokenizer, chat("Name the river.", system="Be brief."), "<think>")
    assert prompt.text.endswith("<|start_header_id|>user<|end_header_id|>\n\nName the river.<|eot_id|>"
                                "<|start_header_id|>assistant<|end_header_id|>\n\n<think>")
    requests = [ChatRequest(chat("Name the river.", system="Be brief.")), ChatRequest(chat("Who built it?")),
                ChatRequest(chat("When?"), stop=("the",))]
    out = gen.generate(requests)
    assert out == [gen.generate([r])[0] for r in requests] and all(isinstance(t, str) for t in out)
    with pytest.raises(HarnessError, match="text_only=true"):
        gen.generate([ChatRequest(chat("What is this?", images["red"]))])


def test_hf_llm_demo_requests_carry_no_image(tiny_checkpoints, tmp_path, monkeypatch) -> None:
    from reag_harness.core.config import RunConfig
    from reag_harness.pipeline.runner import Pipeline

    register_plugin(pipeline_plugin, "test-pipeline")
    seen: list[ChatRequest] = []
    try:
        cfg = RunConfig.from_mapping(dict(
            task="demo", retriever="test-title", critic="test-overlap", generator="hf-llm",
            generator_args={"pretrained": "tiny:llama"}, limit=4, quiet=True, no_leaderboard=True,
            output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages")), source="test")
        pipeline = Pipeline(cfg)
        generate = pipeline.generator.generate

        def spy(requests, **kwargs):
            seen.extend(requests)
            return generate(requests, **kwargs)

        monkeypatch.setattr(pipeline.generator, "generate", spy)
        res = pipeline.run()
    finally:
        unregister_plugin("test-pipeline")
    assert res.n == 4 and len(seen) == 4
    assert pipeline.prompt_style.text_only  # added by the runner from HFLLMGenerator.prompt_style_args
    assert not any(hf_prompts.message_images(r.messages) for r in seen)
    assert all("<paragraph>" in r.messages[-1]["content"][-1]["text"] for r in seen)  # passages are there


def test_hf_llm_with_images_kept_explicitly_fails_clearly(tiny_checkpoints, tmp_path) -> None:
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        with pytest.raises(HarnessError, match="text_only=true"):
            evaluate(task="demo", retriever="test-title", critic="test-overlap", generator="hf-llm",
                     prompt_style="direct", prompt_style_args={"text_only": False},
                     generator_args={"pretrained": "tiny:llama"}, limit=2, quiet=True,
                     no_leaderboard=True, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    finally:
        unregister_plugin("test-pipeline")


# ---------------------------------------------------------------------------------------
# The CLI, as a user types it
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("generator, args", [("hf-vlm", "pretrained=tiny:llava"), ("hf-llm", "pretrained=tiny:llama")])
def test_cli_runs_the_demo_with_a_tiny_checkpoint(generator, args, tiny_checkpoints, tmp_path) -> None:
    out = tmp_path / "runs"
    extra = ["--critic", "hf-vlm-critic", "--critic-args", "pretrained=tiny:llava,threshold=0.0"] \
        if generator == "hf-vlm" else []
    proc = subprocess.run([sys.executable, "-m", "reag_harness.cli", "--task", "demo", "--generator", generator,
                           "--generator-args", args, *extra, "--limit", "4", "--output-dir", str(out),
                           "--no-leaderboard"], capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((next(out.iterdir()) / "results.json").read_text())
    assert results["n"] == 4 and results["components"]["generator"]["name"] == generator
    if generator == "hf-llm":  # the runner gives the prompt style hf-llm's text_only=true (shown in the config)
        assert results["config"]["resolved"]["prompt_style"]["args"]["text_only"] is True
