"""Choosing a CLIP encoder backend and loading it once per process; an encoder's dimension without loading it.

``tiny:`` names and the tiny open_clip model (test and demo fixtures) are resolved here, so the
encoders themselves (:mod:`~reag_harness.models.clip_encoders`, :mod:`~reag_harness.models.clip_backends`,
:mod:`~reag_harness.models.eva_clip_native`) never import a fixture.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from reag_harness.core.errors import HarnessError

from .clip_backends import HFClipEncoder, OpenClipEncoder, TransformersClipEncoder, _remote_code_error
from .clip_encoders import ClipEncoder, _torch_dtype
from .eva_clip_native import NativeEvaClipEncoder
from .tiny import clip as tiny_clip
from .tiny.eva_clip_8b import resolve_tiny

BACKENDS = ("open_clip", "transformers", "hf", "native")

_ENCODERS: dict[tuple[Any, ...], ClipEncoder] = {}
_LOCK = threading.Lock()


def encoder_dim(backend: str, model: str, pretrained: str | None = None) -> int | None:
    """The embedding dimension from the model's configuration, without loading weights (None if unknown)."""
    import json

    if backend == "open_clip":  # read the model's config file: importing open_clip takes seconds
        import importlib.util

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
        pretrained = resolve_tiny(pretrained)  # tiny:eva-clip-8b -> its folder (built on first use)
    tdtype = _torch_dtype(dtype, device)
    key = (backend, model, pretrained, device, tdtype, preprocess if backend in ("transformers", "native") else None)
    with _LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            if backend == "open_clip":
                if model == tiny_clip.TINY_MODEL:
                    tiny_clip.register()
                enc = OpenClipEncoder(model, pretrained, device, tdtype, batch_size)
            elif backend == "hf":
                enc = HFClipEncoder(model, pretrained, device, tdtype, batch_size)
            elif backend == "native":
                enc = NativeEvaClipEncoder(model, pretrained, device, tdtype, batch_size, preprocess=preprocess)
            else:
                enc = TransformersClipEncoder(model, pretrained, device, tdtype, batch_size,
                                              trust_remote_code=trust_remote_code, preprocess=preprocess)
            _ENCODERS[key] = enc
    return enc


def loaded_encoders() -> int:
    """How many encoders this process holds (tests check nothing loads twice)."""
    return len(_ENCODERS)
