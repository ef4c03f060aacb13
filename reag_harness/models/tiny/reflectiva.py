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

from reag_harness.prompts.reflectiva import REFLECTIVE_TOKENS

from ..llava_llama import _module_class
from .chat_templates import LLAMA3_TEMPLATE
from .qwen import CLIP_MEAN, CLIP_STD
from .reflectiva_calibration import calibrate
from .vlm_parts import TEXT, make_tokenizer, token_ids

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
    """Build the tiny checkpoint into ``path``: Llama-3.1 tokenizer with the reflective tokens last, CLIP tower
    folder, ``llava_llama`` config, calibrated weights under the original names."""
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPImageProcessor, CLIPVisionConfig, GenerationConfig

    llama = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    reflective = list(REFLECTIVE_TOKENS.values())
    tokenizer = make_tokenizer([*llama, *reflective], bos="<|begin_of_text|>", eos="<|eot_id|>",
                               pad="<|end_of_text|>", add_bos=True)
    tokenizer.chat_template = LLAMA3_TEMPLATE
    bos, end, _, _, eot = token_ids(tokenizer, *llama)
    if token_ids(tokenizer, *reflective) != list(range(len(tokenizer) - 6, len(tokenizer))):
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

