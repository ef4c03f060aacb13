"""The original LLaVA ``llava_llama`` architecture (``LlavaLlamaForCausalLM``), loaded from its own layout.

ReflectiVA (``aimagelab/ReflectiVA``) and LLaVA-MORE publish checkpoints in the layout of the
LLaVA code base, not the llava-hf one: ``config.json`` has ``model_type: llava_llama`` with
the Llama fields plus ``mm_vision_tower`` (a CLIP hub id), ``mm_projector_type``
(``linear`` or ``mlp<N>x_gelu``), ``mm_vision_select_layer``/``_feature`` and
``image_aspect_ratio``; the weights are ``model.*`` / ``lm_head.*`` (the Llama),
``model.mm_projector.<i>.*`` and, when saved, ``model.vision_tower.vision_tower.*`` (a
``CLIPVisionModel``). This module builds that model from plain transformers modules and
loads the weights strictly: every checkpoint key must find a parameter and every
parameter a key (the vision tower comes from ``mm_vision_tower`` when the checkpoint has
none, as LLaVA's delayed loading does).

The forward is LLaVA's ``prepare_inputs_labels_for_multimodal``: the prompt is tokenized
around each ``<image>`` (``tokenizer_image_token``), the image's CLIP features (layer
``mm_vision_select_layer``, CLS dropped for ``patch``) go through the projector and
replace the placeholder; the image is padded to a square of the mean colour first
(``image_aspect_ratio: pad``, ``mm_utils.expand2square``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from reag_harness.core.errors import HarnessError

IMAGE_TOKEN = "<image>"
IMAGE_TOKEN_INDEX = -200  # llava/constants.py
MM_KEYS = ("mm_vision_tower", "mm_hidden_size", "mm_projector_type", "mm_vision_select_layer",
           "mm_vision_select_feature", "mm_patch_merge_type", "image_aspect_ratio", "mm_use_im_start_end",
           "mm_use_im_patch_token", "mm_projector_lr", "mm_vision_tower_lr", "tune_mm_mlp_adapter",
           "freeze_mm_mlp_adapter", "unfreeze_mm_vision_tower", "tokenizer_model_max_length",
           "tokenizer_padding_side", "image_grid_pinpoints", "use_mm_proj")
IGNORED_KEYS = re.compile(r".*rotary_emb\.inv_freq$")  # buffers some old checkpoints saved


def _clip_has_vision_model_prefix() -> bool:
    """transformers < 5 nests ``CLIPVisionModel``'s weights under ``vision_model.``; 5 does not."""
    try:
        from transformers import CLIPVisionModel
    except ImportError:  # pragma: no cover
        return True
    return "vision_model" in CLIPVisionModel.__init__.__code__.co_names


CLIP_HAS_VISION_MODEL_PREFIX = _clip_has_vision_model_prefix()


def read_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: cannot read the llava_llama config: {exc}") from exc
    if config.get("model_type") != "llava_llama":
        raise HarnessError(f"{path}: model_type is {config.get('model_type')!r}, not 'llava_llama'")
    for key in ("mm_vision_tower", "mm_projector_type", "hidden_size"):
        if key not in config:
            raise HarnessError(f"{path}: field '{key}' is missing (an original LLaVA llava_llama config has it)")
    return config


def vision_tower_path(folder: str | Path, config: dict[str, Any]) -> str:
    """``mm_vision_tower``: a hub id, an absolute folder, or a folder relative to the checkpoint."""
    name = str(config["mm_vision_tower"])
    local = Path(folder) / name
    return str(local) if local.is_dir() else name


def build_projector(kind: str, mm_hidden: int, hidden: int) -> Any:
    """LLaVA's ``build_vision_projector``: ``linear`` or ``mlp<N>x_gelu`` (keys ``0``, ``2``, ...)."""
    from torch import nn

    if kind == "linear":
        return nn.Linear(mm_hidden, hidden)
    match = re.match(r"^mlp(\d+)x_gelu$", kind)
    if not match:
        raise HarnessError(f"mm_projector_type={kind!r} is not supported (linear or mlp<N>x_gelu)")
    modules: list[Any] = [nn.Linear(mm_hidden, hidden)]
    for _ in range(1, int(match.group(1))):
        modules += [nn.GELU(), nn.Linear(hidden, hidden)]
    return nn.Sequential(*modules)


def expand2square(image: Any, background: tuple[int, ...]) -> Any:
    """``llava.mm_utils.expand2square``: paste the image centred on a square of ``background``."""
    from PIL import Image

    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    result = Image.new(image.mode, (side, side), background)
    result.paste(image, (0, (side - height) // 2) if width > height else ((side - width) // 2, 0))
    return result


def tokenizer_image_token(prompt: str, tokenizer: Any) -> list[int]:
    """``llava.mm_utils.tokenizer_image_token(prompt)[1:]`` on a chat-template prompt.

    The reference tokenizes each ``<image>``-separated chunk with the BOS added and drops the
    added BOS of every chunk (the template already wrote one): the same ids as tokenizing
    every chunk without special tokens, with ``IMAGE_TOKEN_INDEX`` between chunks.
    """
    ids: list[int] = []
    for i, chunk in enumerate(prompt.split(IMAGE_TOKEN)):
        if i:
            ids.append(IMAGE_TOKEN_INDEX)
        ids += tokenizer(chunk, add_special_tokens=False).input_ids
    return ids


def render(tokenizer: Any, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = False) -> str:
    """The chat as ``Conversation.get_prompt`` (``LLAMA_3_1``) renders it: ``<image>`` for an image item,
    string contents, the checkpoint's chat template without the generation prompt."""
    chat = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for item in content:
                if item.get("type") == "image":
                    parts.append(IMAGE_TOKEN)
                elif item.get("type") == "text":
                    parts.append(str(item.get("text", "")))
            content = "".join(parts)
        chat.append({"role": m["role"], "content": content})
    return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=add_generation_prompt)


def _module_class() -> Any:
    import torch
    from torch import nn

    class LlavaLlama(nn.Module):
        """CLIP vision tower + projector + ``LlamaForCausalLM``: LLaVA's ``LlavaLlamaForCausalLM``."""

        def __init__(self, config: dict[str, Any], vision_config: Any) -> None:
            from transformers import CLIPVisionModel, LlamaConfig, LlamaForCausalLM

            super().__init__()
            text = {k: v for k, v in config.items()
                    if k not in MM_KEYS and k not in ("architectures", "model_type", "_folder")}
            self.config = config
            self.text_config = LlamaConfig(**text)
            self.llm = LlamaForCausalLM(self.text_config)
            self.vision_tower = CLIPVisionModel(vision_config)
            self.mm_projector = build_projector(str(config["mm_projector_type"]),
                                                int(config.get("mm_hidden_size") or vision_config.hidden_size),
                                                int(config["hidden_size"]))
            self.select_layer = int(config.get("mm_vision_select_layer", -2))
            self.select_feature = str(config.get("mm_vision_select_feature", "patch"))

        @property
        def device(self) -> Any:
            return next(self.parameters()).device

        def encode_images(self, pixel_values: Any) -> Any:
            tower_dtype = next(self.vision_tower.parameters()).dtype
            out = self.vision_tower(pixel_values.to(self.device, tower_dtype), output_hidden_states=True)
            features = out.hidden_states[self.select_layer]
            if self.select_feature == "patch":
                features = features[:, 1:]
            elif self.select_feature != "cls_patch":
                raise HarnessError(f"mm_vision_select_feature={self.select_feature!r} is not supported")
            return self.mm_projector(features)

        def embed(self, ids: list[int], image_features: Any | None) -> Any:
            """One prompt's input embeddings with each ``IMAGE_TOKEN_INDEX`` replaced by an image's features."""
            embed_tokens = self.llm.get_input_embeddings()
            pieces, start, used = [], 0, 0
            positions = [i for i, t in enumerate(ids) if t == IMAGE_TOKEN_INDEX]
            if positions and (image_features is None or len(positions) > image_features.shape[0]):
                raise HarnessError(f"the prompt has {len(positions)} {IMAGE_TOKEN} placeholder(s) but "
                                   f"{0 if image_features is None else image_features.shape[0]} image(s)")
            for pos in positions + [len(ids)]:
                if pos > start:
                    pieces.append(embed_tokens(torch.tensor(ids[start:pos], device=self.device)))
                if pos < len(ids):
                    pieces.append(image_features[used].to(embed_tokens.weight.dtype))  # type: ignore[index]
                    used += 1
                start = pos + 1
            return torch.cat(pieces, dim=0)

        def batch_embeds(self, batch_ids: list[list[int]], pixel_values: list[Any | None]) -> tuple[Any, Any]:
            """Left-padded ``inputs_embeds`` and ``attention_mask`` for a batch of prompts."""
            rows = []
            for ids, pixels in zip(batch_ids, pixel_values):
                features = self.encode_images(pixels) if pixels is not None else None
                rows.append(self.embed(ids, features))
            width = max(r.shape[0] for r in rows)
            hidden = rows[0].shape[1]
            embeds = rows[0].new_zeros((len(rows), width, hidden))
            mask = torch.zeros((len(rows), width), dtype=torch.long, device=self.device)
            for i, r in enumerate(rows):
                embeds[i, width - r.shape[0]:] = r
                mask[i, width - r.shape[0]:] = 1
            return embeds, mask

        def forward(self, batch_ids: list[list[int]], pixel_values: list[Any | None]) -> Any:
            """Logits ``(batch, length, vocab)`` of left-padded prompts."""
            embeds, mask = self.batch_embeds(batch_ids, pixel_values)
            return self.llm(inputs_embeds=embeds, attention_mask=mask).logits

    return LlavaLlama


def checkpoint_state(folder: Path) -> dict[str, Any]:
    """Every tensor of the checkpoint (safetensors shards or ``pytorch_model*.bin``)."""
    import torch

    files = sorted(folder.glob("*.safetensors"))
    state: dict[str, Any] = {}
    if files:
        from safetensors.torch import load_file

        for f in files:
            state.update(load_file(str(f)))
        return state
    for f in sorted(folder.glob("pytorch_model*.bin")):
        state.update(torch.load(str(f), map_location="cpu", weights_only=True))
    if not state:
        raise HarnessError(f"{folder}: no *.safetensors or pytorch_model*.bin weights")
    return state


def convert_keys(state: dict[str, Any]) -> dict[str, Any]:
    """Original LLaVA key names -> this module's (``model.`` Llama -> ``llm.model.``, etc.)."""
    out = {}
    for key, value in state.items():
        if IGNORED_KEYS.match(key):
            continue
        if key.startswith("model.vision_tower.vision_tower."):
            new = "vision_tower." + key[len("model.vision_tower.vision_tower."):]
            if not CLIP_HAS_VISION_MODEL_PREFIX and new.startswith("vision_tower.vision_model."):
                new = "vision_tower." + new[len("vision_tower.vision_model."):]  # transformers 5 flattened CLIP
        elif key.startswith("model.mm_projector."):
            new = "mm_projector." + key[len("model.mm_projector."):]
        elif key.startswith("model.") or key.startswith("lm_head."):
            new = "llm." + key
        else:
            new = key  # reported as unexpected by the strict load
        out[new] = value
    return out


def load_llava_llama(folder: str | Path, device: str = "cpu", dtype: str = "float32") -> tuple[Any, Any, Any]:
    """``(model, tokenizer, image_processor)`` of an original-layout ``llava_llama`` checkpoint.

    Strict: a checkpoint key without a parameter, or a parameter without a key, is an error
    naming them (the vision tower's parameters come from ``mm_vision_tower`` when the
    checkpoint has no ``model.vision_tower.vision_tower.*`` keys).
    """
    import torch
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    folder = Path(folder)
    config = read_config(folder)
    config["_folder"] = str(folder)
    tower = vision_tower_path(folder, config)
    vision_config = CLIPVisionConfig.from_pretrained(tower)
    state = convert_keys(checkpoint_state(folder))
    if not any(k.startswith("vision_tower.") for k in state):
        tower_state = CLIPVisionModel.from_pretrained(tower).state_dict()
        state.update({f"vision_tower.{k}": v for k, v in tower_state.items()})
    with torch.device(device):  # built where it runs (an 8B model is not built twice in CPU memory)
        model = _module_class()(config, vision_config)
    expected = set(model.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if model.text_config.tie_word_embeddings and "llm.lm_head.weight" in missing:
        missing.remove("llm.lm_head.weight")
    if missing or unexpected:
        raise HarnessError(f"{folder}: the llava_llama weights do not match the architecture: "
                           f"missing {missing[:8]}{' ...' if len(missing) > 8 else ''}, "
                           f"unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    model.load_state_dict(state, strict=not model.text_config.tie_word_embeddings)
    if model.text_config.tie_word_embeddings:
        model.llm.tie_weights()
    model = model.to(device=device, dtype=getattr(torch, dtype)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    image_processor = CLIPImageProcessor.from_pretrained(tower)
    return model, tokenizer, image_processor


def pixel_values(image: Any, image_processor: Any, config: dict[str, Any]) -> Any:
    """``llava.mm_utils.process_images`` for one PIL image: ``(1, 3, H, W)``."""
    if config.get("image_aspect_ratio") == "pad":
        image = expand2square(image, tuple(int(x * 255) for x in image_processor.image_mean))
    elif config.get("image_aspect_ratio") not in (None, "square"):
        raise HarnessError(f"image_aspect_ratio={config.get('image_aspect_ratio')!r} is not supported (pad)")
    return image_processor.preprocess(image, return_tensors="pt")["pixel_values"]
