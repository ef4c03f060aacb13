"""ReflectiVA on the ``llava_llama`` architecture: loading (one copy per process), rendering, decoding.

The generator (``reflectiva``), its ``[RET]`` gate and the ``reflectiva-rel`` critic share one
loaded model. Reflective tokens: ids 128250-128255 in the Llama-3.1 vocabulary
(``llava/train/train.py``: no-retrieval 128250, retrieval 128251, no-relevant 128252,
relevant 128253, ``<paragraph>`` 128254, ``</paragraph>`` 128255); a smaller vocabulary (the
tiny checkpoint) finds them by name.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

from reag_harness.core.errors import HarnessError
from reag_harness.prompts.reflectiva import REFLECTIVE_TOKENS

from .hf_checkpoints import resolve_checkpoint
from .hf_prompts import truncate_at_stop
from .llava_llama import load_llava_llama, pixel_values, render, tokenizer_image_token

LLAMA31_VOCAB = 128256
REFLECTIVE_IDS = {"no_retrieval": 128250, "retrieval": 128251, "no_relevant": 128252, "relevant": 128253,
                  "paragraph_open": 128254, "paragraph_close": 128255}

_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}


def checkpoint_folder(pretrained: str) -> Path:
    """A local folder for ``pretrained`` (a folder, or a hub id downloaded on use; the components resolve
    ``tiny:reflectiva`` to its folder first, :func:`reag_harness.models.hf_vlm.resolve_pretrained`)."""
    resolved, _ = resolve_checkpoint(pretrained)
    if Path(resolved).is_dir():
        return Path(resolved)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(resolved))


def load(pretrained: str, device: str, dtype: str) -> tuple[Any, Any, Any]:
    """``(model, tokenizer, image_processor)``, loaded once per (checkpoint, device, dtype) in this process."""
    folder = checkpoint_folder(pretrained)
    key = (str(folder), device, dtype)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = load_llava_llama(folder, device=device, dtype=dtype)
        return _LOADED[key]


def reflective_ids(tokenizer: Any) -> dict[str, int]:
    """The six reflective token ids: the reference's fixed ids in the Llama-3.1 vocabulary, else by name."""
    if len(tokenizer) >= LLAMA31_VOCAB:
        return dict(REFLECTIVE_IDS)
    ids = {k: tokenizer.convert_tokens_to_ids(name) for k, name in REFLECTIVE_TOKENS.items()}
    missing = [REFLECTIVE_TOKENS[k] for k, v in ids.items() if v is None or v == tokenizer.unk_token_id]
    if missing:
        raise HarnessError(f"the tokenizer has no reflective token(s) {missing} and is not Llama-3.1's vocabulary")
    return ids


def images_of(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(i["image"]) for m in messages if isinstance(m.get("content"), list)
            for i in m["content"] if isinstance(i, dict) and i.get("type") == "image"]


class ReflectiVAModel:
    """One loaded checkpoint: prompt ids, first-token probabilities, generation."""

    def __init__(self, pretrained: str, device: str, dtype: str, add_generation_prompt: bool = False) -> None:
        self.model, self.tokenizer, self.image_processor = load(pretrained, device, dtype)
        self.ids = reflective_ids(self.tokenizer)
        self.add_generation_prompt = add_generation_prompt

    def inputs(self, messages: Sequence[Mapping[str, Any]], assistant_prefix: str = "") -> tuple[list[int], Any]:
        from PIL import Image

        prompt = render(self.tokenizer, messages, self.add_generation_prompt) + assistant_prefix
        paths = images_of(messages)
        pixels = None
        if paths:
            import torch

            tensors = []
            for path in paths:
                with Image.open(path) as im:
                    tensors.append(pixel_values(im.convert("RGB"), self.image_processor, self.model.config))
            pixels = torch.cat(tensors, dim=0)
        return tokenizer_image_token(prompt, self.tokenizer), pixels

    def next_token_probs(self, messages: Sequence[Mapping[str, Any]]) -> Any:
        """Softmax over the full vocabulary at the first generated position."""
        import torch

        ids, pixels = self.inputs(messages)
        with torch.inference_mode():
            logits = self.model([ids], [pixels])[0, -1].float()
        return torch.softmax(logits, dim=-1)

    def generate(self, messages: Sequence[Mapping[str, Any]], *, max_new_tokens: int, temperature: float,
                 top_p: float | None, seed: int, assistant_prefix: str = "", stop: Sequence[str] = ()) -> str:
        """The reference's ``model.generate``: sampling when ``temperature > 0``, new tokens only,
        special tokens skipped in decoding."""
        import torch

        ids, pixels = self.inputs(messages, assistant_prefix)
        kwargs: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "do_sample": temperature > 0}
        if temperature > 0:
            kwargs.update(temperature=float(temperature), top_p=top_p)
            torch.manual_seed(seed)
        with torch.inference_mode():
            embeds, mask = self.model.batch_embeds([ids], [pixels])
            out = self.model.llm.generate(inputs_embeds=embeds, attention_mask=mask,
                                          generation_config=self.generation_config(), **kwargs)
        text = self.tokenizer.decode(out[0], skip_special_tokens=True)
        return truncate_at_stop(text, tuple(stop))

    def generation_config(self) -> Any:
        from transformers import GenerationConfig

        folder = Path(self.model.config.get("_folder", "")) if self.model.config.get("_folder") else None
        if folder is not None and (folder / "generation_config.json").is_file():
            return GenerationConfig.from_pretrained(str(folder))
        return self.model.llm.generation_config

    def token_names(self) -> dict[str, str]:
        return {k: str(self.tokenizer.convert_ids_to_tokens(v)) for k, v in self.ids.items()}
