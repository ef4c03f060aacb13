"""The Qwen2.5-VL loader, the tiny checkpoint and the generator, on the tiny checkpoint (CPU, fp32)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from reag_harness.core.errors import HarnessError, InputError, MissingDependencyError  # noqa: E402
from reag_harness.interfaces import Runtime  # noqa: E402
from reag_harness.models import qwen_vl, vllm_backend  # noqa: E402
from reag_harness.models.tiny import qwen as tiny_qwen  # noqa: E402
from reag_harness.records import ChatRequest, Passage, Sample  # noqa: E402


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("qwen_images")
    out = {}
    for name, size, colour in (("red", (56, 84), (200, 10, 10)), ("wide", (140, 56), (10, 120, 30)),
                               ("big", (200, 150), (20, 20, 220))):
        path = root / f"{name}.jpg"
        Image.new("RGB", size, colour).save(path)
        out[name] = str(path)
    return out


def chat(text: str, image: str | None = None, system: str | None = None) -> list[dict]:
    content = ([{"type": "image", "image": image}] if image else []) + [{"type": "text", "text": text}]
    messages = [{"role": "system", "content": [{"type": "text", "text": system}]}] if system else []
    return messages + [{"role": "user", "content": content}]


@pytest.fixture(scope="module")
def requests_(images) -> list[ChatRequest]:
    return [
        ChatRequest(chat("What is this?", images["red"])),
        ChatRequest(chat("Who designed this bridge, and in which year was it opened to the public?", images["big"]),
                    assistant_prefix="<think>"),
        ChatRequest(chat("Name the river.")),
        ChatRequest(chat("In which country is this mountain located?", images["wide"], system="Be brief.")),
        ChatRequest(chat("What is the name of this building? Answer in one word.", images["red"])),
    ]


def generator(tiny_path: Path, **kwargs):
    from reag_harness.plugins.generators.qwen_vl import tiny_qwen25vl

    return tiny_qwen25vl(Runtime(device="cpu", dtype="float32", batch_size=kwargs.pop("batch_size", 8)), **kwargs)


# ---------------------------------------------------------------------------------------
# The tiny checkpoint
# ---------------------------------------------------------------------------------------


def test_tiny_checkpoint_round_trips_through_auto_classes(tiny_path: Path) -> None:
    assert tiny_qwen.tiny_qwen25vl_path() == tiny_path  # built once, then reused
    size = sum(f.stat().st_size for f in tiny_path.iterdir())
    assert size < 5_000_000
    processor = transformers.AutoProcessor.from_pretrained(tiny_path)
    model = transformers.AutoModelForImageTextToText.from_pretrained(tiny_path, dtype=torch.float32)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    tok = processor.tokenizer
    ids = [tok.convert_tokens_to_ids(t) for t in tiny_qwen.SPECIAL_TOKENS]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # the real order, after the BPE vocabulary
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert model.config.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert model.config.text_config.vocab_size == len(tok)
    for word in ("Yes", "No"):
        assert len(tok.encode(word, add_special_tokens=False)) == 1
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert processor.chat_template == tiny_qwen.CHAT_TEMPLATE
    ip = processor.image_processor
    assert (ip.patch_size, ip.merge_size, ip.temporal_patch_size) == (14, 2, 2)
    assert list(ip.image_mean) == tiny_qwen.CLIP_MEAN and list(ip.image_std) == tiny_qwen.CLIP_STD
    gen_config = json.loads((tiny_path / "generation_config.json").read_text())
    assert gen_config["do_sample"] is False
    assert gen_config["eos_token_id"] == [tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id]
    text = processor.apply_chat_template(chat("Hi", "/x.jpg"), tokenize=False, add_generation_prompt=True)
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                    "<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n<|im_start|>assistant\n")


def test_tiny_build_is_deterministic(tmp_path: Path, tiny_path: Path) -> None:
    built = tiny_qwen.build_tiny_qwen25vl(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (built / name).read_bytes() == (tiny_path / name).read_bytes(), name


def test_loader_sets_pixels_padding_and_max_length(tiny_path: Path, images) -> None:
    model, processor = qwen_vl.load_qwen_vl(str(tiny_path), "cpu", "float32")
    assert processor.tokenizer.padding_side == "left"
    assert processor.tokenizer.model_max_length == 16384
    assert (processor.image_processor.size.shortest_edge, processor.image_processor.size.longest_edge) == (
        3136, 301056)
    assert model.dtype == torch.float32 and model.config._attn_implementation == "sdpa"
    assert qwen_vl.load_qwen_vl(str(tiny_path), "cpu", "float32")[0] is model
    # A 1000x1000 image is bounded by max_pixels: 301056 = 384 * 28 * 28 -> at most 384 merged tokens.
    big = Path(images["big"]).with_name("huge.png")
    Image.new("RGB", (1000, 1000)).save(big)
    prompt = qwen_vl.render(processor, chat("x", str(big)))
    inputs = qwen_vl.batch_inputs(processor, [prompt])
    n_image_tokens = int((inputs["input_ids"] == model.config.image_token_id).sum())
    assert qwen_vl.prompt_length(processor, prompt) == inputs["input_ids"].shape[1]
    assert 300 < n_image_tokens <= 384


def test_checkpoint_identity_tracks_files(tiny_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ckpt"
    shutil.copytree(tiny_path, copy)
    first = qwen_vl.checkpoint_identity(str(copy))
    assert first["path"] == str(copy.resolve()) and first == qwen_vl.checkpoint_identity(str(copy))
    config = json.loads((copy / "config.json").read_text())
    config["text_config"]["rms_norm_eps"] = 1e-5
    (copy / "config.json").write_text(json.dumps(config))
    assert qwen_vl.checkpoint_identity(str(copy))["hash"] != first["hash"]
    assert qwen_vl.checkpoint_identity("aimagelab/ReAG-7B") == {"hub_id": "aimagelab/ReAG-7B", "revision": None}


def test_unavailable_checkpoint_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # the env var is read at import
    with pytest.raises(HarnessError, match="pretrained=/path"):
        qwen_vl.load_qwen_vl("aimagelab/ReAG-7B-not-downloaded", "cpu", "float32")
    with pytest.raises(HarnessError, match="no checkpoint folder"):
        qwen_vl.load_qwen_vl(str(tmp_path / "ReAG-7B"), "cpu", "float32")


# ---------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------


def test_batched_generation_matches_one_at_a_time_in_input_order(tiny_path: Path, requests_) -> None:
    gen = generator(tiny_path, batch_size=3)
    batched = gen.generate(requests_)
    singles = [gen.generate([r])[0] for r in requests_]
    assert all(isinstance(t, str) and t for t in batched)
    assert len(set(batched)) == len(batched)  # distinct prompts give distinct outputs, so order is checked
    assert batched == singles
    assert gen.generate(list(reversed(requests_))) == list(reversed(batched))
    assert gen.generate([]) == []


def test_output_is_only_the_new_text_after_the_assistant_prefix(tiny_path: Path, requests_) -> None:
    gen = generator(tiny_path)
    request = requests_[1]
    model, processor = gen.model_and_processor()
    rendered = qwen_vl.render(processor, request.messages, request.assistant_prefix)
    plain = processor.apply_chat_template(list(request.messages), tokenize=False, add_generation_prompt=True)
    assert rendered.text == plain + "<think>"
    assert rendered.text.endswith("<|im_start|>assistant\n<think>")
    # Independently: the processor on the rendered text, greedy generate, decode the new tokens.
    inputs = processor(text=[rendered.text], images=[Image.open(rendered.images[0]).convert("RGB")],
                       return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    expected = processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert gen.generate([request]) == [expected]
    without_prefix = ChatRequest(request.messages)
    assert gen.generate([without_prefix]) != [expected]


def test_stop_strings_truncate_and_keep_the_stop_string(tiny_path: Path, requests_) -> None:
    gen = generator(tiny_path)
    base = gen.generate(requests_[:3])
    stopped_requests, expected = [], []
    for request, text in zip(requests_[:3], base):
        words = [m for m in re.finditer(r"[A-Za-z]{2,}", text) if m.start() >= 2]
        assert words, text
        stop = words[0].group()
        stopped_requests.append(ChatRequest(request.messages, request.assistant_prefix, stop=(stop, "</answer>")))
        expected.append(text[: text.find(stop) + len(stop)])
    got = gen.generate(stopped_requests)
    assert got == expected
    assert all(len(g) < len(b) for g, b in zip(got, base))


def test_truncate_at_stop() -> None:
    assert qwen_vl.truncate_at_stop("<think>a</think><answer>x</answer>junk", ["</answer>"]) == (
        "<think>a</think><answer>x</answer>")
    assert qwen_vl.truncate_at_stop("abc", ["z"]) == "abc"
    assert qwen_vl.truncate_at_stop("a</b>c</a>", ["</a>", "</b>"]) == "a</b>"


def test_per_request_max_new_tokens(tiny_path: Path, requests_) -> None:
    gen = generator(tiny_path)
    full = gen.generate(requests_[:2])
    short = gen.generate([ChatRequest(r.messages, r.assistant_prefix, max_new_tokens=3) for r in requests_[:2]])
    for s, f in zip(short, full):
        assert s and f.startswith(s) and len(s) < len(f)


def test_missing_image_is_an_input_error(tiny_path: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.jpg")
    with pytest.raises(InputError) as info:
        generator(tiny_path).generate([ChatRequest(chat("What is this?", missing))])
    assert info.value.field == "image" and info.value.path == missing and missing in str(info.value)


def test_critic_and_generator_load_the_checkpoint_once(tiny_path: Path, requests_, monkeypatch) -> None:
    from reag_harness.plugins.critics.qwen_critic import tiny_critic

    calls = []
    original = transformers.AutoModelForImageTextToText.from_pretrained

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", counting)
    qwen_vl.clear_cache()
    before = dict(qwen_vl.LOAD_COUNTS)
    runtime = Runtime(device="cpu", dtype="float32", batch_size=4)
    from reag_harness.plugins.generators.qwen_vl import tiny_qwen25vl

    gen, critic = tiny_qwen25vl(runtime), tiny_critic(runtime, threshold=0.1)
    assert calls == []  # building components loads nothing (identity() must be cheap)
    assert gen.identity()["checkpoint"] == critic.identity()["checkpoint"]
    gen.generate(requests_[:2])
    critic.p_yes([(Sample("s", "What is this?", None), Passage("k", 0, "A passage."))])
    tiny_critic(runtime).p_yes([(Sample("t", "Where?", None), Passage("k", 1, "Elsewhere."))])
    assert calls == [str(tiny_path.resolve())]
    assert qwen_vl.LOAD_COUNTS["model"] - before["model"] == 1
    assert qwen_vl.LOAD_COUNTS["processor"] - before["processor"] == 1
    assert gen.model_and_processor()[0] is critic.model_and_processor()[0]


def test_registered_names_build_the_components(tiny_path: Path) -> None:
    from reag_harness.core.plugin_manager import get_registry

    registry = get_registry()
    runtime = Runtime()
    gen = registry.create("generator", "tiny-qwen2.5-vl", runtime, {})
    assert gen.name == "tiny-qwen2.5-vl" and gen.max_new_tokens == 16
    gen = registry.create("generator", "reag-7b", runtime, {"pretrained": str(tiny_path), "max_new_tokens": 8})
    assert gen.name == "reag-7b" and gen.pretrained == str(tiny_path)
    assert registry.create("generator", "reag-3b", runtime, {}).pretrained == "aimagelab/ReAG-3B"
    assert registry.create("generator", "qwen2.5-vl-7b", runtime, {}).pretrained == "Qwen/Qwen2.5-VL-7B-Instruct"
    with pytest.raises(HarnessError):
        registry.create("generator", "qwen-vl", runtime, {})  # pretrained is required
    identity = registry.create("generator", "qwen-vl", runtime, {"pretrained": str(tiny_path), "batch_size": 2,
                                                                 "temperature": 0.7}).identity()
    assert "batch_size" not in identity["args"] and identity["args"]["temperature"] == 0.7


# ---------------------------------------------------------------------------------------
# The vLLM backend (vllm is not installed here: only its pure-Python parts run)
# ---------------------------------------------------------------------------------------


@pytest.mark.skipif(bool(__import__("importlib").util.find_spec("vllm")), reason="vllm is installed")
def test_vllm_backend_without_vllm_says_how_to_install(tiny_path: Path) -> None:
    from reag_harness.plugins.critics.qwen_critic import tiny_critic
    from reag_harness.plugins.generators.qwen_vl import tiny_qwen25vl

    for build in (tiny_qwen25vl, tiny_critic):
        with pytest.raises(MissingDependencyError, match=re.escape("pip install 'reag-harness[vllm]'")):
            build(Runtime(), backend="vllm")
    with pytest.raises(HarnessError, match="unknown"):
        tiny_qwen25vl(Runtime(), backend="tgi")


def test_vllm_prompt_conversion(tiny_path: Path, requests_) -> None:
    processor = qwen_vl.load_qwen_processor(str(tiny_path))
    request = requests_[1]
    prompt = vllm_backend.request_to_vllm_prompt(processor, request)
    assert prompt["prompt"] == qwen_vl.render(processor, request.messages, "<think>").text
    assert prompt["prompt"].count("<|image_pad|>") == 1  # vLLM expands the placeholder itself
    (image,) = prompt["multi_modal_data"]["image"]
    assert image.mode == "RGB" and image.size == (200, 150)
    assert "multi_modal_data" not in vllm_backend.request_to_vllm_prompt(processor, requests_[2])


def test_vllm_sampling_and_logprob_helpers() -> None:
    defaults = vllm_backend.defaults_from_generation_config({"do_sample": False, "temperature": 0.7})
    assert defaults == {"temperature": 0.0}
    qwen_instruct = {"do_sample": True, "temperature": 0.1, "top_p": 0.001, "top_k": 1, "repetition_penalty": 1.05}
    assert vllm_backend.defaults_from_generation_config(qwen_instruct) == {
        "temperature": 0.1, "top_p": 0.001, "top_k": 1, "repetition_penalty": 1.05}
    kwargs = vllm_backend.sampling_kwargs(defaults, {"do_sample": False, "top_k": 5}, 64, ("</answer>",))
    assert kwargs == {"temperature": 0.0, "top_k": 5, "max_tokens": 64, "stop": ["</answer>"],
                      "include_stop_str_in_output": True}
    with pytest.raises(HarnessError, match="num_beams"):
        vllm_backend.sampling_kwargs(defaults, {"num_beams": 4}, 8, ())

    class Logprob:
        def __init__(self, logprob: float) -> None:
            self.logprob = logprob

    assert vllm_backend.p_yes_from_logprobs({7: Logprob(-0.5), 9: Logprob(-2.0)}, 7) == pytest.approx(0.6065306597)
    assert vllm_backend.p_yes_from_logprobs({9: -1.0}, 7) == 0.0
    assert vllm_backend.p_yes_from_logprobs(None, 7) == 0.0


def test_no_heavy_imports_at_core_import() -> None:
    import subprocess
    import sys

    code = ("import sys, reag_harness.models.qwen_vl, reag_harness.models.batching, reag_harness.models.vllm_backend; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                         check=True).stdout.split()
    assert out == ["False", "False"]
