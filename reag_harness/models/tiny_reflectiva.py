"""A tiny random ReflectiVA checkpoint in the ORIGINAL LLaVA ``llava_llama`` layout (``tiny:reflectiva``).

Like ``aimagelab/ReflectiVA``: ``config.json`` with ``model_type: llava_llama``,
``architectures: [LlavaLlamaForCausalLM]``, ``mm_vision_tower``, ``mm_projector_type:
mlp2x_gelu``, ``mm_vision_select_layer: -2``, ``image_aspect_ratio: pad``; weights named
``model.embed_tokens.*``, ``model.layers.*``, ``lm_head.*``, ``model.mm_projector.{0,2}.*``,
``model.vision_tower.vision_tower.vision_model.*``; a Llama-3.1 tokenizer whose last six
tokens are the reflective tokens (in Llama-3.1's vocabulary they are ids 128250-128255,
its last six). ``mm_vision_tower`` names a folder inside the checkpoint (the published one
names ``openai/clip-vit-large-patch14-336``), so the tiny one builds offline.
"""

from __future__ import annotations

import json
from pathlib import Path

#: ids 128250-128255 of the ReflectiVA tokenizer (llava/train/train.py), in that order.
REFLECTIVE_TOKENS = ("[No Retrieval]", "[Retrieval]", "[No Relevant]", "[Relevant]", "<paragraph>", "</paragraph>")
TOWER = "clip-vision-tower"


def original_key(name: str) -> str:
    """This harness's module key -> the key the original checkpoint uses."""
    if name.startswith("llm."):
        return name[len("llm."):]
    if name.startswith("mm_projector."):
        return "model." + name
    if name.startswith("vision_tower."):  # LLaVA saved a transformers 4 CLIPVisionModel: ``vision_model.`` inside
        rest = name[len("vision_tower."):]
        rest = rest if rest.startswith("vision_model.") else "vision_model." + rest
        return "model.vision_tower.vision_tower." + rest
    raise ValueError(name)


def build_reflectiva(path: Path) -> Path:
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPImageProcessor, CLIPVisionConfig, GenerationConfig

    from .llava_llama import _module_class
    from .tiny_qwen import CLIP_MEAN, CLIP_STD
    from .tiny_vlms import LLAMA3_TEMPLATE, TEXT, _ids, make_tokenizer

    llama = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tokenizer = make_tokenizer([*llama, *REFLECTIVE_TOKENS], bos="<|begin_of_text|>", eos="<|eot_id|>",
                               pad="<|end_of_text|>", add_bos=True)
    tokenizer.chat_template = LLAMA3_TEMPLATE
    bos, end, _, _, eot = _ids(tokenizer, *llama)
    if _ids(tokenizer, *REFLECTIVE_TOKENS) != list(range(len(tokenizer) - 6, len(tokenizer))):
        raise RuntimeError("tiny reflectiva: the reflective tokens are not the last six ids")
    tower = path / TOWER
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=56, patch_size=14, projection_dim=32, initializer_range=0.5)
    vision.save_pretrained(tower)
    CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}, image_mean=CLIP_MEAN,
                       image_std=CLIP_STD).save_pretrained(tower)
    config = {
        "architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava_llama", **TEXT,
        "vocab_size": len(tokenizer), "bos_token_id": bos, "eos_token_id": [end, eot], "pad_token_id": end,
        "tie_word_embeddings": False, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "mm_vision_tower": TOWER, "mm_hidden_size": 32, "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch", "mm_patch_merge_type": "flat",
        "image_aspect_ratio": "pad", "mm_use_im_start_end": False, "mm_use_im_patch_token": False,
        "tokenizer_model_max_length": 4096, "use_mm_proj": True,
    }
    torch.manual_seed(0)
    model = _module_class()(config, vision).eval()
    calibrate(model, tokenizer, CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56},
                                                   image_mean=CLIP_MEAN, image_std=CLIP_STD))
    state = {original_key(k): v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    GenerationConfig(bos_token_id=bos, eos_token_id=[end, eot], pad_token_id=end, do_sample=False,
                     max_new_tokens=16).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _split_rows(model: object, hidden: object, pair: tuple[int, int], scale: float) -> None:
    """Rows of ``pair`` (yes-like, no-like) = +-``scale`` times the main direction in which ``hidden`` varies,
    centred: the tiny model then picks either token depending on the prompt (a random model barely does)."""
    import torch

    centred = hidden - hidden.mean(dim=0, keepdim=True)
    direction = torch.linalg.svd(centred, full_matrices=False).Vh[0]
    offset = float((hidden @ direction).median())
    mean_dir = hidden.mean(dim=0)
    row = direction - offset * mean_dir / float(mean_dir @ mean_dir)  # row @ h = direction @ h - offset (about)
    row = row / float((hidden @ row).std().clamp_min(1e-6))  # unit spread of the logit across prompts
    head = model.llm.lm_head.weight  # type: ignore[attr-defined]
    head[pair[0]] = scale * row
    head[pair[1]] = -scale * row


def calibrate(model: object, tokenizer: object, image_processor: object) -> None:
    """Make the tiny ``[RET]``/``[NORET]`` and ``[REL]``/``[NOREL]`` choices depend on the prompt (calibrated on
    the demo task's questions and passages, so that a tiny demo run retrieves for some samples only)."""
    import torch
    from PIL import Image

    from reag_harness.plugins.prompt_styles.reflectiva import opening, relevance_request

    from .llava_llama import pixel_values, tokenizer_image_token
    from .reflectiva_model import TINY_NAMES, render

    ids = {k: tokenizer.convert_tokens_to_ids(v) for k, v in TINY_NAMES.items()}  # type: ignore[attr-defined]

    from reag_harness.tasks.demo.task import DemoTask

    demo = DemoTask()  # the demo's own questions, images and passages: the tiny run then shows both branches
    samples = demo.samples()[:12]
    kb = demo.knowledge_base()
    passages = [kb.passages(k)[0] for k in list(kb.keys())[:4]]

    def last_hidden(messages: list) -> object:
        paths = [i["image"] for m in messages if isinstance(m["content"], list) for i in m["content"]
                 if i.get("type") == "image"]
        with Image.open(paths[0]) as im:
            pixels = pixel_values(im.convert("RGB"), image_processor, model.config)  # type: ignore[attr-defined]
        ids_ = tokenizer_image_token(render(tokenizer, messages), tokenizer)
        embeds, mask = model.batch_embeds([ids_], [pixels])  # type: ignore[attr-defined]
        return model.llm.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state[0, -1]  # type: ignore[attr-defined]

    with torch.no_grad():
        model.llm.lm_head.weight.mul_(0.05)  # soft next-token distributions: the reflective choice can win
        gate = torch.stack([last_hidden(opening(s)) for s in samples])
        _split_rows(model, gate, (ids["retrieval"], ids["no_retrieval"]), 4.0)
        rel = torch.stack([last_hidden(relevance_request(s, p).messages) for s in samples for p in passages])
        _split_rows(model, rel, (ids["relevant"], ids["no_relevant"]), 8.0)
