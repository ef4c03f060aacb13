"""The CLIP encoder backends: open_clip, EVA-CLIP-8B through transformers remote code, transformers' dual encoders.

- ``open_clip``: any open_clip model name (EVA02 included) with ``pretrained`` a local
  checkpoint file or an open_clip pretrained tag; open_clip's own preprocessing.
- ``transformers``: ``BAAI/EVA-CLIP-8B`` (the encoder the released ReAG indexes were built
  with), loaded with ``AutoModel.from_pretrained(..., trust_remote_code=True)`` only when the
  user asks for it; only its vision tower (``encode_image``) is used for images, with the
  ``openai/clip-vit-large-patch14`` preprocessing (:func:`~.clip_encoders.clip_l14_preprocess`).
- ``hf``: transformers' own CLIP / SigLIP / any dual encoder with ``get_image_features`` and
  ``get_text_features`` (``openai/clip-vit-large-patch14``, ``google/siglip-so400m-patch14-384``,
  a local folder), with the checkpoint's ``AutoProcessor``; no remote code.

The fourth backend, ``native`` (the same EVA-CLIP-8B checkpoint through the project's own
implementation, loaded strictly, no remote code), is :mod:`reag_harness.models.eva_clip_native`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from reag_harness.core.errors import HarnessError

from .clip_encoders import ClipEncoder, clip_l14_preprocess


class OpenClipEncoder(ClipEncoder):
    """An open_clip model; ``pretrained`` is a checkpoint file or an open_clip tag (None: random).

    The model name must be known to open_clip (a registered tiny model: :func:`.clip_loader.load_encoder`
    registers ``tiny_clip.TINY_MODEL`` first)."""

    backend = "open_clip"

    def __init__(self, model: str, pretrained: str | None, device: str, dtype: torch.dtype, batch_size: int) -> None:
        super().__init__(model, pretrained, device, dtype, batch_size)
        import open_clip

        name = model
        if model.endswith(".json") and Path(model).is_file():  # a custom config file: name = its stem
            open_clip.add_model_config(model)
            name = Path(model).stem
        if name not in open_clip.list_models():
            raise HarnessError(f"unknown open_clip model {model!r} (see open_clip.list_models())")
        if pretrained and not Path(pretrained).expanduser().is_file():
            tags = open_clip.list_pretrained_tags_by_model(name)
            if pretrained not in tags:
                raise HarnessError(f"open_clip model {name!r}: pretrained {pretrained!r} is neither a file nor one "
                                   f"of its tags {tags}")
        if pretrained and Path(pretrained).expanduser().is_file():
            pretrained = str(Path(pretrained).expanduser())
        precision = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, "fp32")
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, device=device, precision=precision)
        except RuntimeError as exc:
            msg = f"open_clip model {name!r} with pretrained {pretrained!r} failed to load: {exc}"
            raise HarnessError(msg) from exc
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)
        cfg = open_clip.get_model_config(name) or {}
        self.dim = int(cfg.get("embed_dim") or self.encode_images([Image.new("RGB", (8, 8))]).shape[-1])

    def _pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return torch.stack([self.preprocess(im) for im in images])

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(list(texts)).to(self.device))


def _remote_code_error(source: str) -> HarnessError:
    return HarnessError(
        f"the transformers encoder {source!r} ships its own model code (EVA-CLIP-8B is not part of "
        "transformers), which runs on your machine when loaded; if you trust it, pass trust_remote_code=true "
        "(retriever: --retriever-args trust_remote_code=true; index build: --trust-remote-code)")


def load_clip_tokenizer(source: str) -> Any:
    """The checkpoint's tokenizer by the class its ``tokenizer_config.json`` names (a transformers class), so that
    ``AutoTokenizer`` never reads an ``auto_map`` config and asks to run remote code; else ``AutoTokenizer``."""
    import json

    import transformers

    config = Path(source).expanduser() / "tokenizer_config.json"
    name = json.loads(config.read_text()).get("tokenizer_class") if config.is_file() else None
    cls = getattr(transformers, str(name), None) if name else None
    if cls is None or not hasattr(cls, "from_pretrained"):
        cls = transformers.AutoTokenizer
    return cls.from_pretrained(source)


class TransformersClipEncoder(ClipEncoder):
    """``BAAI/EVA-CLIP-8B`` through transformers remote code; images preprocessed like CLIP-L/14."""

    backend = "transformers"

    def __init__(self, model: str, pretrained: str | None, device: str, dtype: torch.dtype, batch_size: int,
                 trust_remote_code: bool = False, preprocess: str = "pil", image_size: int = 224) -> None:
        super().__init__(model, pretrained, device, dtype, batch_size)
        source = pretrained or model
        if not trust_remote_code:
            raise _remote_code_error(source)
        self.source, self.preprocess_backend, self.image_size = source, preprocess, int(image_size)
        self.model = self._load(source, device, dtype)
        if not hasattr(self.model, "encode_image"):
            raise HarnessError(f"{source!r} has no encode_image(): not an EVA-CLIP style remote-code model")
        self._tokenizer: Any = None
        self.dim = int(self.encode_images([Image.new("RGB", (8, 8))]).shape[-1])

    def _load(self, source: str, device: str, dtype: torch.dtype) -> Any:
        from .eva_clip_remote import load_remote_model

        return load_remote_model(source, device, dtype)

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "preprocess": f"clip-l14-{self.preprocess_backend}-{self.image_size}"}

    def _pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return clip_l14_preprocess(images, self.image_size, self.image_size, self.preprocess_backend)

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        if self._tokenizer is None:
            self._tokenizer = load_clip_tokenizer(self.source)
        ids = self._tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=77)
        return self.model.encode_text(ids["input_ids"].to(self.device))


def _features(out: Any) -> torch.Tensor:
    """transformers 5 returns a model output whose ``pooler_output`` holds the projected features."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class HFClipEncoder(ClipEncoder):
    """A transformers CLIP-style dual encoder (CLIP, SigLIP, ...) with its own processor."""

    backend = "hf"

    def __init__(self, model: str, pretrained: str | None, device: str, dtype: torch.dtype, batch_size: int) -> None:
        super().__init__(model, pretrained, device, dtype, batch_size)
        from transformers import AutoModel, AutoProcessor

        from .strict_load import strict_from_pretrained

        self.source = pretrained or model
        try:
            self.model = strict_from_pretrained(AutoModel, self.source, "CLIP encoder", dtype=dtype)
            self.processor = AutoProcessor.from_pretrained(self.source)
        except OSError as exc:
            raise HarnessError(f"cannot load {self.source!r} (a local folder, or a hub id in the local cache): "
                               f"{exc}") from exc
        if not hasattr(self.model, "get_image_features"):
            raise HarnessError(f"{self.source!r} ({type(self.model).__name__}) has no get_image_features(): "
                               "not a CLIP-style dual encoder")
        self.model.to(device).eval()
        self.model_type = getattr(self.model.config, "model_type", "")
        self.dim = int(self.encode_images([Image.new("RGB", (8, 8))]).shape[-1])

    def _pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return self.processor(images=list(images), return_tensors="pt")["pixel_values"]

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return _features(self.model.get_image_features(pixel_values=pixels))

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        # SigLIP was trained on texts padded to max_length (64); CLIP pads to the longest.
        siglip = "siglip" in self.model_type
        padding: Any = "max_length" if siglip else True
        text_config = getattr(self.model.config, "text_config", None)
        limit = int(getattr(text_config, "max_position_embeddings", 0) or 77)
        inputs = self.processor(text=list(texts), return_tensors="pt", padding=padding, truncation=True,
                                max_length=min(64, limit) if siglip else min(77, limit))
        keep = {k: v.to(self.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        if siglip:
            keep.pop("attention_mask", None)  # SigLIP's text tower attends to the padding, as in training
        return _features(self.model.get_text_features(**keep))
