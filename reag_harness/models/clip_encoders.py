"""CLIP-style image and text encoders behind one small interface, loaded once per process.

Four backends:

- ``open_clip``: any open_clip model name (EVA02 included) with ``pretrained`` a local
  checkpoint file or an open_clip pretrained tag; open_clip's own preprocessing.
- ``transformers``: ``BAAI/EVA-CLIP-8B`` (the encoder the released ReAG indexes were built
  with), loaded with ``AutoModel.from_pretrained(..., trust_remote_code=True)`` only when the
  user asks for it; only its vision tower (``encode_image``) is used for images, with the
  ``openai/clip-vit-large-patch14`` preprocessing reimplemented here (:func:`clip_l14_preprocess`).
- ``native``: the same ``BAAI/EVA-CLIP-8B`` hub checkpoint through the project's own implementation
  (:mod:`reag_harness.models.eva_clip_native`), loaded strictly, no remote code; same preprocessing.
- ``hf``: transformers' own CLIP / SigLIP / any dual encoder with ``get_image_features`` and
  ``get_text_features`` (``openai/clip-vit-large-patch14``, ``google/siglip-so400m-patch14-384``,
  a local folder), with the checkpoint's ``AutoProcessor``; no remote code.

Every encoder returns float32, L2-normalised ``np.ndarray`` rows.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from reag_harness.errors import HarnessError, InputError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
EVA_CLIP_8B = "BAAI/EVA-CLIP-8B"
BACKENDS = ("open_clip", "transformers", "hf", "native")

_ENCODERS: dict[tuple[Any, ...], ClipEncoder] = {}
_LOCK = threading.Lock()


# -- images ------------------------------------------------------------------------------------
def open_images(paths: Sequence[str]) -> list[Image.Image]:
    """Load images as RGB PIL images; a missing or unreadable file is an :class:`InputError`."""
    images = []
    for path in paths:
        if not path or not Path(path).is_file():
            raise InputError(str(path), "image file not found", field="image")
        try:
            with Image.open(path) as im:
                images.append(im.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise InputError(str(path), f"cannot read image: {exc}", field="image") from exc
    return images


def clip_resize_size(width: int, height: int, shortest_edge: int) -> tuple[int, int]:
    """(height, width) after resizing the shortest edge, as ``transformers`` computes it."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = shortest_edge, int(shortest_edge * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def clip_l14_preprocess(
    images: Sequence[Image.Image], size: int = 224, crop_size: int = 224, backend: str = "pil"
) -> torch.Tensor:
    """``openai/clip-vit-large-patch14`` preprocessing: ``[N, 3, crop, crop]`` float32.

    Resize the shortest edge to ``size`` (bicubic), center crop ``crop_size``, scale to [0, 1],
    normalise with the CLIP mean/std. ``backend="pil"`` equals transformers' PIL
    ``CLIPImageProcessor`` (the default class of transformers 4.x, which the reference used);
    ``"torchvision"`` equals transformers 5's torchvision ``CLIPImageProcessor`` (uint8 tensor
    resize with antialiasing; differs from PIL by a few grey levels). Images are converted with
    ``convert("RGB")`` (transformers 5 composites transparency on white instead).
    """
    if backend not in ("pil", "torchvision"):
        raise HarnessError(f"unknown CLIP preprocessing backend {backend!r}: use 'pil' or 'torchvision'")
    out = torch.empty((len(images), 3, crop_size, crop_size), dtype=torch.float32)
    if backend == "pil":
        mean = np.asarray(CLIP_MEAN, dtype=np.float32)
        std = np.asarray(CLIP_STD, dtype=np.float32)
        for i, image in enumerate(images):
            image = image.convert("RGB") if image.mode != "RGB" else image
            h, w = clip_resize_size(image.width, image.height, size)
            resized = image.resize((w, h), resample=Image.Resampling.BICUBIC)
            top, left = (h - crop_size) // 2, (w - crop_size) // 2
            arr = np.asarray(resized, dtype=np.uint8)[top : top + crop_size, left : left + crop_size]
            arr = (arr.astype(np.float64) * (1 / 255)).astype(np.float32)
            out[i] = torch.from_numpy(((arr - mean) / std).transpose(2, 0, 1))
        return out
    import torchvision.transforms.v2.functional as tvF

    mean = torch.tensor(CLIP_MEAN) * (1.0 / (1 / 255))
    std = torch.tensor(CLIP_STD) * (1.0 / (1 / 255))
    for i, image in enumerate(images):
        t = tvF.pil_to_tensor(image.convert("RGB") if image.mode != "RGB" else image)
        h, w = clip_resize_size(t.shape[-1], t.shape[-2], size)
        t = tvF.resize(t, [h, w], interpolation=tvF.InterpolationMode.BICUBIC, antialias=True)
        top, left = int((h - crop_size) / 2.0), int((w - crop_size) / 2.0)
        t = t[:, top : top + crop_size, left : left + crop_size]
        out[i] = tvF.normalize(t.to(torch.float32), mean.tolist(), std.tolist())
    return out


# -- identity ----------------------------------------------------------------------------------
def checkpoint_identity(source: str | None) -> dict[str, Any]:
    """What identifies a checkpoint: a local file or folder by size + mtime hash, else its tag/hub id."""
    if not source:
        return {}
    path = Path(source).expanduser()
    if path.is_file():
        st = path.stat()
        digest = hashlib.sha256(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
        return {"path": str(path.resolve()), "size": st.st_size, "stat_hash": digest}
    if path.is_dir():
        h = hashlib.sha256()
        total = 0
        for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
            st = f.stat()
            total += st.st_size
            h.update(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        return {"path": str(path.resolve()), "size": total, "stat_hash": h.hexdigest()[:16]}
    return {"hub_id_or_tag": source}


def _l2(x: torch.Tensor) -> np.ndarray:
    """L2-normalised float32 rows. fp16 outputs are normalised in fp16 and then cast, as the ReAG reference
    does (``image_embeds / image_embeds.norm(p=2, dim=-1, keepdim=True)`` on EVA-CLIP-8B's fp16 output);
    other dtypes in float32."""
    x = x.detach()
    if x.dtype == torch.float16:
        x = x / x.norm(p=2, dim=-1, keepdim=True)
        return x.to(torch.float32).cpu().numpy().astype(np.float32, copy=False)
    x = x.to(torch.float32)
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return x.cpu().numpy().astype(np.float32, copy=False)


def _torch_dtype(dtype: str | None, device: str) -> torch.dtype:
    if dtype in (None, "", "auto"):
        return torch.float16 if device.startswith("cuda") else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
                "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}[str(dtype)]
    except KeyError:
        raise HarnessError(f"unknown dtype {dtype!r}: use float32, float16 or bfloat16") from None


# -- encoders ----------------------------------------------------------------------------------
class ClipEncoder:
    """``encode_images`` / ``encode_texts`` -> float32 L2-normalised rows, in batches."""

    backend = ""

    def __init__(self, model: str, pretrained: str | None, device: str, dtype: torch.dtype, batch_size: int) -> None:
        self.model_name, self.pretrained, self.device, self.dtype = model, pretrained, device, dtype
        self.batch_size = max(1, int(batch_size))
        self.dim = 0

    def identity(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model_name, "pretrained": self.pretrained,
                "checkpoint": checkpoint_identity(self.pretrained or self.model_name),
                "dtype": str(self.dtype).replace("torch.", "")}

    def _pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        raise NotImplementedError

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _text_features(self, texts: Sequence[str]) -> torch.Tensor:
        raise NotImplementedError

    def encode_images(self, images: Sequence[Image.Image], batch_size: int | None = None) -> np.ndarray:
        bs = max(1, int(batch_size or self.batch_size))
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for i in range(0, len(images), bs):
                pixels = self._pixels(images[i : i + bs]).to(self.device, self.dtype)
                out.append(_l2(self._image_features(pixels)))
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.dim), np.float32)

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        bs = max(1, int(batch_size or self.batch_size))
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for i in range(0, len(texts), bs):
                out.append(_l2(self._text_features(list(texts[i : i + bs]))))
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.dim), np.float32)


class OpenClipEncoder(ClipEncoder):
    """An open_clip model; ``pretrained`` is a checkpoint file or an open_clip tag (None: random)."""

    backend = "open_clip"

    def __init__(self, model: str, pretrained: str | None, device: str, dtype: torch.dtype, batch_size: int) -> None:
        super().__init__(model, pretrained, device, dtype, batch_size)
        import open_clip

        name = model
        if model.endswith(".json") and Path(model).is_file():  # a custom config file: name = its stem
            open_clip.add_model_config(model)
            name = Path(model).stem
        else:
            from . import tiny_clip

            if model == tiny_clip.TINY_MODEL:
                tiny_clip.register()
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


def encoder_dim(backend: str, model: str, pretrained: str | None = None) -> int | None:
    """The embedding dimension from the model's configuration, without loading weights (None if unknown)."""
    import json

    if backend == "open_clip":  # read the model's config file: importing open_clip takes seconds
        import importlib.util

        from . import tiny_clip

        if model.endswith(".json") and Path(model).is_file():
            path = Path(model)
        elif model == tiny_clip.TINY_MODEL:
            return int(tiny_clip.OPEN_CLIP_CONFIG["embed_dim"])
        else:
            spec = importlib.util.find_spec("open_clip")
            roots = list(spec.submodule_search_locations or []) if spec else []
            path = next((Path(r) / "model_configs" / f"{model}.json" for r in roots
                         if (Path(r) / "model_configs" / f"{model}.json").is_file()), Path("-"))
        if not path.is_file():
            return None
        dim = json.loads(path.read_text()).get("embed_dim")
        return int(dim) if dim else None
    config = Path(pretrained or model).expanduser() / "config.json"
    if not config.is_file():
        return None
    cfg = json.loads(config.read_text())
    for key in ("projection_dim", "embed_dim"):
        if isinstance(cfg.get(key), int):
            return int(cfg[key])
    vision = cfg.get("vision_config") or {}
    return int(vision["hidden_size"]) if isinstance(vision.get("hidden_size"), int) else None


def load_encoder(
    backend: str = "open_clip",
    model: str = "EVA02-L-14",
    pretrained: str | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    batch_size: int = 32,
    trust_remote_code: bool = False,
    preprocess: str = "pil",
) -> ClipEncoder:
    """The encoder for these settings, loaded once per process (``batch_size`` is only a default)."""
    if backend not in BACKENDS:
        raise HarnessError(f"unknown encoder backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "transformers" and not trust_remote_code:
        raise _remote_code_error(pretrained or model)
    if backend in ("transformers", "native"):
        from .tiny_eva_clip_8b import resolve_tiny

        pretrained = resolve_tiny(pretrained)  # tiny:eva-clip-8b -> its folder (built on first use)
    tdtype = _torch_dtype(dtype, device)
    key = (backend, model, pretrained, device, tdtype, preprocess if backend in ("transformers", "native") else None)
    with _LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            if backend == "open_clip":
                enc = OpenClipEncoder(model, pretrained, device, tdtype, batch_size)
            elif backend == "hf":
                enc = HFClipEncoder(model, pretrained, device, tdtype, batch_size)
            elif backend == "native":
                from .eva_clip_native import NativeEvaClipEncoder

                enc = NativeEvaClipEncoder(model, pretrained, device, tdtype, batch_size, preprocess=preprocess)
            else:
                enc = TransformersClipEncoder(model, pretrained, device, tdtype, batch_size,
                                              trust_remote_code=trust_remote_code, preprocess=preprocess)
            _ENCODERS[key] = enc
    return enc


def loaded_encoders() -> int:
    """How many encoders this process holds (tests check nothing loads twice)."""
    return len(_ENCODERS)
