"""ReflectiVA: the llava_llama checkpoint in its original layout, its forward against the reference's
written out with plain torch/transformers modules, and the [RET] gate / [REL] critic end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny() -> Path:
    from reag_harness.models.tiny.vlms import tiny_checkpoint

    return tiny_checkpoint("reflectiva")


def test_tiny_checkpoint_is_in_the_original_llava_llama_layout(tiny):
    from safetensors import safe_open

    config = json.loads((tiny / "config.json").read_text())
    assert config["model_type"] == "llava_llama" and config["architectures"] == ["LlavaLlamaForCausalLM"]
    assert config["mm_projector_type"] == "mlp2x_gelu" and config["mm_vision_select_layer"] == -2
    assert config["image_aspect_ratio"] == "pad" and "mm_vision_tower" in config
    with safe_open(str(tiny / "model.safetensors"), "pt") as fh:
        keys = set(fh.keys())
    for key in ("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight",
                "lm_head.weight", "model.mm_projector.0.weight", "model.mm_projector.2.bias",
                "model.vision_tower.vision_tower.vision_model.embeddings.class_embedding",
                "model.vision_tower.vision_tower.vision_model.encoder.layers.1.mlp.fc2.weight"):
        assert key in keys, key
    assert not any(k.startswith(("llm.", "vision_tower.", "mm_projector.")) for k in keys)


def reference_forward(folder: Path, image, prompt: str):
    """LLaVA's LlavaLlamaForCausalLM forward written out: CLIP hidden_states[-2][:, 1:], Linear-GELU-Linear,
    tokenizer_image_token (BOS per chunk, first one kept, then [1:]) and the embeddings spliced in."""
    import torch.nn.functional as F
    from PIL import Image
    from safetensors.torch import load_file
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        LlamaConfig,
        LlamaForCausalLM,
    )

    config = json.loads((folder / "config.json").read_text())
    state = load_file(str(folder / "model.safetensors"))
    tower_dir = folder / config["mm_vision_tower"]
    vision = CLIPVisionModel(CLIPVisionConfig.from_pretrained(tower_dir)).eval()
    prefix = "model.vision_tower.vision_tower."
    tower = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not any(k.startswith("vision_model.") for k in vision.state_dict()):  # transformers 5 flattened CLIP
        tower = {k[len("vision_model."):]: v for k, v in tower.items()}
    vision.load_state_dict(tower, strict=True)
    llama_keys = {k: v for k, v in state.items() if not k.startswith(("model.vision_tower.", "model.mm_projector."))}
    llama_fields = {k: v for k, v in config.items() if not k.startswith("mm_") and k not in (
        "architectures", "model_type", "image_aspect_ratio", "tokenizer_model_max_length", "use_mm_proj")}
    llm = LlamaForCausalLM(LlamaConfig(**llama_fields)).eval()
    llm.load_state_dict(llama_keys, strict=True)
    processor = CLIPImageProcessor.from_pretrained(tower_dir)
    # mm_utils.expand2square + process_images
    w, h = image.size
    square = Image.new(image.mode, (max(w, h),) * 2, tuple(int(x * 255) for x in processor.image_mean))
    square.paste(image, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    pixels = processor.preprocess(square, return_tensors="pt")["pixel_values"]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    chunks = [tokenizer(c).input_ids for c in prompt.split("<image>")]
    ids = [chunks[0][0]]
    for i, chunk in enumerate(chunks):
        if i:
            ids += [-200, -200][1:]  # insert_separator([IMAGE_TOKEN_INDEX] * 2)[offset:]
        ids += chunk[1:]
    ids = ids[1:]  # release_retrieval.py: tokenizer_image_token(...)[1:]
    with torch.no_grad():
        feats = vision(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
        hidden = F.gelu(F.linear(feats, state["model.mm_projector.0.weight"], state["model.mm_projector.0.bias"]))
        feats = F.linear(hidden, state["model.mm_projector.2.weight"], state["model.mm_projector.2.bias"])[0]
        pos = ids.index(-200)
        emb = llm.get_input_embeddings()
        embeds = torch.cat([emb(torch.tensor(ids[:pos])), feats, emb(torch.tensor(ids[pos + 1:]))])[None]
        return llm(inputs_embeds=embeds).logits[0], ids


def test_adapter_logits_equal_the_reference_forward(tiny, tmp_path):
    from PIL import Image

    from reag_harness.models.llava_llama import load_llava_llama, pixel_values, render, tokenizer_image_token
    from reag_harness.prompts.reflectiva import with_paragraph
    from reag_harness.records import Sample

    image_path = tmp_path / "wide.png"
    Image.new("RGB", (90, 50), (30, 160, 90)).save(image_path)
    sample = Sample("s", "In which year was this lighthouse completed?", str(image_path))
    model, tokenizer, processor = load_llava_llama(tiny)
    prompt = render(tokenizer, with_paragraph(sample, ["It was first lit in 1841."], short=True))
    assert prompt.count("<image>") == 1 and "[Retrieval]" in prompt and prompt.endswith(
        "Consider this paragraph: <paragraph>It was first lit in 1841.</paragraph>. Give a short answer.<|eot_id|>")
    ids = tokenizer_image_token(prompt, tokenizer)
    with Image.open(image_path) as im:
        got = model([ids], [pixel_values(im.convert("RGB"), processor, model.config)])[0]
        expected, ref_ids = reference_forward(tiny, im.convert("RGB"), prompt)
    assert ids == ref_ids
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_strict_loading_names_an_unexpected_key(tiny, tmp_path):
    from safetensors.torch import load_file, save_file

    from reag_harness.core.errors import HarnessError
    from reag_harness.models.llava_llama import load_llava_llama

    copy = tmp_path / "ckpt"
    shutil.copytree(tiny, copy)
    state = load_file(str(copy / "model.safetensors"))
    state["model.mm_projector.4.weight"] = torch.zeros(2, 2)
    save_file(state, str(copy / "model.safetensors"))
    with pytest.raises(HarnessError, match=r"mm_projector\.4\.weight"):
        load_llava_llama(copy)
    del state["model.mm_projector.4.weight"], state["model.norm.weight"]
    save_file(state, str(copy / "model.safetensors"))
    with pytest.raises(HarnessError, match=r"missing \['llm\.model\.norm\.weight'\]"):
        load_llava_llama(copy)


def test_reflectiva_preset_records_the_ret_decision_and_rel_probabilities(tmp_path, capsys):
    from reag_harness.cli.app import main

    out = tmp_path / "runs"
    code = main(["--task", "demo", "--preset", "reflectiva", "--generator-args", "pretrained=tiny:reflectiva",
                 "--limit", "4", "--output-dir", str(out), "--cache-dir", str(tmp_path / "stages"),
                 "--no-leaderboard", "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    [folder] = out.iterdir()
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    results = json.loads((folder / "results.json").read_text())
    decisions = [r["retrieval_decision"] for r in rows]
    assert all(isinstance(d["retrieve"], bool) and 0 <= d["p_retrieval"] <= 1 for d in decisions)
    assert {d["retrieve"] for d in decisions} == {True, False}  # the tiny model gates both ways on the demo
    for r in rows:
        if r["retrieval_decision"]["retrieve"]:
            assert r["passages"] and all(0 <= p["p_yes"] <= 1 for p in r["passages"])
            kept = [p for p in r["passages"] if p["kept"]]
            assert kept  # threshold 0.5, else the seeded random fallback
            assert all(p["p_yes"] > 0.5 for p in kept) or r["selection"]["fallback"] == "random"
        else:
            assert r["passages"] == [] and r["retrieval_info"] == {"skipped_by_gate": True}
    assert results["components"]["critic"]["args"]["pretrained"] == "tiny:reflectiva"  # the generator's
    sampling = results["runtime_facts"]["generator"]["sampling"]
    assert sampling == {"do_sample": False, "temperature": 0.0, "top_p": None, "seed": 1234,
                        "reference_temperature": 0.2}
    assert results["runtime_facts"]["generator"]["reflective_tokens"]["retrieval"][1] == "[Retrieval]"


def test_several_images_in_one_prompt(tiny, tmp_path):
    """Each image item of a request becomes its own <image> with its own features (CoRe-MMRAG's page images
    next to the query image), in the llava_llama renderer and in the shared HF VLM generator."""
    from PIL import Image

    from reag_harness.interfaces import Runtime
    from reag_harness.models.llava_llama import IMAGE_TOKEN_INDEX
    from reag_harness.models.reflectiva_model import ReflectiVAModel
    from reag_harness.plugins.generators.hf_vlm import HFVLMGenerator
    from reag_harness.records import ChatRequest

    paths = []
    for name, colour in (("query", (200, 30, 30)), ("page_a", (20, 200, 40)), ("page_b", (10, 20, 220))):
        paths.append(tmp_path / f"{name}.png")
        Image.new("RGB", (40, 30), colour).save(paths[-1])

    def messages(second):
        return [{"role": "user", "content": [{"type": "image", "image": str(paths[0])},
                                             {"type": "image", "image": str(second)},
                                             {"type": "text", "text": "\n\nWhich page shows the object?"}]}]

    m = ReflectiVAModel(str(tiny), "cpu", "float32")
    ids, pixels = m.inputs(messages(paths[1]))
    assert ids.count(IMAGE_TOKEN_INDEX) == 2 and pixels.shape[0] == 2
    a, b = m.next_token_probs(messages(paths[1])), m.next_token_probs(messages(paths[2]))
    assert not torch.allclose(a, b)  # the second image reaches the model
    gen = HFVLMGenerator(Runtime(), pretrained="tiny:qwen2.5-vl", max_new_tokens=3)
    [text] = gen.generate([ChatRequest(messages=messages(paths[1]))])
    assert isinstance(text, str)


def test_tiny_calibration_set_is_the_demo_data(tmp_path, monkeypatch):
    """The tiny checkpoint's frozen calibration set (models/ may not import the demo task) is still the demo's
    first 12 questions with their pictures, and the first passage of its first 4 KB pages."""
    from PIL import Image, ImageChops

    from reag_harness.models.tiny import reflectiva_calibration as calibration
    from reag_harness.tasks.demo.task import DemoTask

    monkeypatch.setenv("REAG_HARNESS_CACHE", str(tmp_path / "cache"))
    demo = DemoTask()
    kb = demo.knowledge_base()
    demo_samples = demo.samples()[:12]
    samples = calibration.calibration_samples(tmp_path)
    assert [s.question for s in samples] == [s.question for s in demo_samples]
    for mine, theirs in zip(samples, demo_samples, strict=True):
        with Image.open(mine.image) as a, Image.open(theirs.image) as b:
            assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None, theirs.image
    assert list(calibration.PASSAGES) == [kb.passages(k)[0] for k in list(kb.keys())[:4]]
