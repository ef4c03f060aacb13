"""EchoSight's BLIP-2 Q-Former section reranker on transformers' ``Blip2ForImageTextRetrieval``.

EchoSight (Go2Heart/EchoSight ``test/test_reranker.py`` l.157-221) scores every section of the
retrieved pages with LAVIS's ``blip2_reranker`` (``use_vanilla_qformer=True``):

- the question and the image go through the Q-Former together (``extract_features(...,
  mode="multimodal")``): 32 query outputs, ``vision_proj``, L2-normalised;
- each section, after LAVIS's ``blip_caption`` text processor (lower case, punctuation
  dropped, 50 words), goes through the Q-Former as text (``mode="text"``): the CLS output,
  ``text_proj``, L2-normalised;
- the score is the best query's dot product; the pipeline then fuses it with the page's
  retrieval similarity (0.5 / 0.5) and keeps the top section (:mod:`reag_harness.core.selection`).

Weights: a transformers BLIP-2 retrieval checkpoint (``Salesforce/blip2-itm-vit-g``, the HF port
of LAVIS's BLIP-2 "pretrain" Q-Former EchoSight starts from), then the fine-tuned
``reranker.pth`` (LAVIS key names, linked from EchoSight's README) converted key by key: a
key that maps to no parameter is an error (LAVIS's unused LM head ``Qformer.cls.*``, ``temp``
and ``position_ids`` buffers excepted).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from reag_harness.core.errors import HarnessError

LAVIS_IGNORED = re.compile(r"^(Qformer\.cls\..*|temp|.*position_ids)$")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TARGET_RATIO = 1.25  # test_reranker.py: targetpad_transform(1.25, 224)
MAX_WORDS = 50  # LAVIS BlipCaptionProcessor default (blip2_pretrain.yaml: blip_caption)


def lavis_key(key: str) -> str | None:
    """A LAVIS ``blip2_reranker`` state-dict key -> the ``Blip2ForImageTextRetrieval`` key (None: not a weight)."""
    if LAVIS_IGNORED.match(key):
        return None
    fixed = {"query_tokens": "query_tokens", "ln_vision.weight": "vision_model.post_layernorm.weight",
             "ln_vision.bias": "vision_model.post_layernorm.bias",
             "visual_encoder.cls_token": "vision_model.embeddings.class_embedding",
             "visual_encoder.pos_embed": "vision_model.embeddings.position_embedding",
             "visual_encoder.patch_embed.proj.weight": "vision_model.embeddings.patch_embedding.weight",
             "visual_encoder.patch_embed.proj.bias": "vision_model.embeddings.patch_embedding.bias",
             "Qformer.bert.embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
             "Qformer.bert.embeddings.position_embeddings.weight": "embeddings.position_embeddings.weight",
             "Qformer.bert.embeddings.LayerNorm.weight": "qformer.layernorm.weight",
             "Qformer.bert.embeddings.LayerNorm.bias": "qformer.layernorm.bias"}
    if key in fixed:
        return fixed[key]
    for old, new in (("vision_proj.", "vision_projection."), ("text_proj.", "text_projection."),
                     ("itm_head.", "itm_head.")):
        if key.startswith(old):
            return new + key[len(old):]
    if key.startswith("Qformer.bert.encoder.layer."):
        rest = key[len("Qformer.bert."):].replace(".attention.self.", ".attention.attention.")
        return "qformer." + rest.replace(".crossattention.self.", ".crossattention.attention.")
    match = re.match(r"^visual_encoder\.blocks\.(\d+)\.(.+)$", key)
    if match:
        i, rest = match.groups()
        names = {"norm1": "layer_norm1", "norm2": "layer_norm2", "attn.proj": "self_attn.projection",
                 "attn.qkv": "self_attn.qkv", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
        for old, new in names.items():
            if rest.startswith(old + "."):
                return f"vision_model.encoder.layers.{i}.{new}{rest[len(old):]}"
        if rest in ("attn.q_bias", "attn.v_bias"):
            return f"vision_model.encoder.layers.{i}.self_attn.qkv.bias"  # merged in convert_lavis_state
    return key  # reported as unknown


def convert_lavis_state(state: dict[str, Any], expected: dict[str, Any], source: str) -> dict[str, Any]:
    """LAVIS names -> transformers names; q/v biases merged into the qkv bias (k bias zero, as in EVA)."""
    import torch

    out: dict[str, Any] = {}
    biases: dict[str, dict[str, Any]] = {}
    unknown = []
    for key, value in state.items():
        new = lavis_key(key)
        if new is None:
            continue
        if new not in expected:
            unknown.append(key)
            continue
        if key.endswith(("attn.q_bias", "attn.v_bias")):
            biases.setdefault(new, {})[key.rsplit(".", 1)[1]] = value
            continue
        if tuple(value.shape) != tuple(expected[new].shape):
            raise HarnessError(f"{source}: '{key}' has shape {tuple(value.shape)}, the model's '{new}' "
                               f"{tuple(expected[new].shape)}")
        out[new] = value
    for new, parts in biases.items():
        if set(parts) != {"q_bias", "v_bias"}:
            raise HarnessError(f"{source}: {new}: only {sorted(parts)} of q_bias/v_bias")
        out[new] = torch.cat([parts["q_bias"], torch.zeros_like(parts["q_bias"]), parts["v_bias"]])
    if unknown:
        raise HarnessError(f"{source}: {len(unknown)} key(s) match no parameter of the BLIP-2 Q-Former, "
                           f"e.g. {unknown[:5]}")
    return out


def load_reranker(pretrained: str, checkpoint: str | None, device: str, dtype: str) -> tuple[Any, Any, int]:
    """``(model, tokenizer, image_size)``; ``checkpoint`` (reranker.pth) overrides the weights it holds."""
    import torch
    from transformers import AutoTokenizer, Blip2ForImageTextRetrieval

    model = Blip2ForImageTextRetrieval.from_pretrained(pretrained)
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise HarnessError(f"critic qformer-reranker: checkpoint={checkpoint}: no such file (EchoSight's "
                               "reranker.pth, linked from its README)")
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        state = state.get("model", state) if isinstance(state, dict) else state
        converted = convert_lavis_state(state, model.state_dict(), str(path))
        model.load_state_dict(converted, strict=False)
    model = model.to(device=device, dtype=getattr(torch, dtype)).eval()
    tokenizer = AutoTokenizer.from_pretrained(pretrained)
    return model, tokenizer, int(model.config.vision_config.image_size)


def pre_caption(text: str, max_words: int = MAX_WORDS) -> str:
    """LAVIS ``BlipCaptionProcessor.pre_caption``."""
    text = re.sub(r"([.!\"()*#:;~])", " ", text.lower())
    text = re.sub(r"\s{2,}", " ", text).rstrip("\n").strip(" ")
    words = text.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else text


def targetpad_pixels(image: Any, size: int) -> Any:
    """EchoSight's ``targetpad_transform(1.25, size)``: pad to the target ratio, bicubic resize, centre crop,
    CLIP normalisation; ``(1, 3, size, size)``."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps

    image = image.convert("RGB")
    w, h = image.size
    if max(w, h) / min(w, h) >= TARGET_RATIO:
        scaled = max(w, h) / TARGET_RATIO
        hp, vp = max(int((scaled - w) / 2), 0), max(int((scaled - h) / 2), 0)
        image = ImageOps.expand(image, border=(hp, vp, hp, vp), fill=0)
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = image.size
    left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
    image = image.crop((left, top, left + size, top + size))
    array = (np.asarray(image, dtype=np.float32) / 255.0 - np.array(CLIP_MEAN, np.float32)) / np.array(CLIP_STD,
                                                                                                    np.float32)
    return torch.from_numpy(array.transpose(2, 0, 1).copy())[None]


def multimodal_embeds(model: Any, tokenizer: Any, pixels: Any, question: str) -> Any:
    """``extract_features({"image", "text_input": question}, mode="multimodal")`` with the vanilla Q-Former."""
    import torch
    import torch.nn.functional as F

    image_embeds = model.vision_model(pixel_values=pixels.to(model.device, model.dtype)).last_hidden_state
    image_atts = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=model.device)
    query_tokens = model.query_tokens.expand(image_embeds.shape[0], -1, -1)
    text = tokenizer([question], return_tensors="pt", padding=True).to(model.device)
    query_atts = torch.ones(query_tokens.shape[:-1], dtype=torch.long, device=model.device)
    embeds = model.embeddings(input_ids=text.input_ids, query_embeds=query_tokens)
    out = model.qformer(query_embeds=embeds, query_length=query_tokens.shape[1],
                        attention_mask=torch.cat([query_atts, text.attention_mask], dim=1),
                        encoder_hidden_states=image_embeds, encoder_attention_mask=image_atts)
    return F.normalize(model.vision_projection(out.last_hidden_state[:, : query_tokens.shape[1]]), dim=-1)[0]


def text_embeds(model: Any, tokenizer: Any, sections: Sequence[str]) -> Any:
    """``extract_features({"text_input": sections}, mode="text")["text_embeds_proj"][:, 0, :]``."""
    import torch.nn.functional as F

    text = tokenizer([pre_caption(s) for s in sections], return_tensors="pt", padding=True, truncation=True,
                     max_length=512).to(model.device)
    embeds = model.embeddings(input_ids=text.input_ids)
    out = model.qformer(query_embeds=embeds, query_length=0, attention_mask=text.attention_mask)
    return F.normalize(model.text_projection(out.last_hidden_state), dim=-1)[:, 0, :]


def section_scores(model: Any, tokenizer: Any, image_size: int, image: Any, question: str,
                   sections: Sequence[str]) -> list[float]:
    """The Q-Former score of each section: the best of the query embeddings' dot products with its text embedding."""
    import torch

    with torch.inference_mode():
        fusion = multimodal_embeds(model, tokenizer, targetpad_pixels(image, image_size), question)
        texts = text_embeds(model, tokenizer, sections)
        return (texts @ fusion.T).max(dim=-1).values.float().tolist()
