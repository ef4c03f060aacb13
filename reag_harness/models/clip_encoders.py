"""CLIP-style image and text encoders: the shared interface, image reading and the CLIP-L/14 preprocessing.

Every encoder is a :class:`ClipEncoder` and returns float32, L2-normalised ``np.ndarray`` rows.
The backends (open_clip, EVA-CLIP-8B through transformers remote code, transformers' own dual
encoders) are in :mod:`reag_harness.models.clip_backends`, the project's own EVA-CLIP-8B in
:mod:`reag_harness.models.eva_clip_native`; :func:`reag_harness.models.clip_loader.load_encoder`
picks one and loads it once per process.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from reag_harness.core.errors import HarnessError, InputError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
EVA_CLIP_8B = "BAAI/EVA-CLIP-8B"


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
