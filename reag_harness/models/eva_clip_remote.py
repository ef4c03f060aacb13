"""Loading EVA-CLIP-8B's published remote code correctly under transformers 5 (``encoder=transformers``).

transformers 5 builds the model on the meta device, loads the weights, then gives every non-persistent buffer
an *uninitialised* placeholder and runs the model's ``_init_weights`` on the modules that hold one, trusting it
to restore the buffer and to skip loaded weights. The published code does neither: its ``position_ids`` buffers
stay garbage (``IndexError`` on the first encode, or silently wrong embeddings on CUDA), and its
``_init_weights`` writes through ``.data``, overwriting the loaded text embeddings. So here:

- the remote classes' ``_init_weights`` is a no-op while ``from_pretrained`` runs (nothing may be initialised:
  loading is strict, a missing key is an error naming it, :mod:`reag_harness.models.strict_load`);
- the ``position_ids`` buffers are rebuilt (``arange``) after loading; any other non-persistent buffer of
  remote code cannot be restored and is an error (use ``encoder=native``);
- ``device_map`` is passed only when ``accelerate`` is importable (the ``gpu`` extra installs it); otherwise
  the model is loaded on the CPU and moved.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

import torch

from reag_harness.core.errors import HarnessError
from reag_harness.models.strict_load import strict_from_pretrained

REMOTE_PREFIX = "transformers_modules"


def accelerate_available() -> bool:
    return importlib.util.find_spec("accelerate") is not None


def load_kwargs(device: str, dtype: torch.dtype) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments: ``device_map`` only on CUDA and only with ``accelerate``."""
    kwargs: dict[str, Any] = {"trust_remote_code": True, "dtype": dtype}
    if device.startswith("cuda") and accelerate_available():
        kwargs["device_map"] = device
    return kwargs


def _remote_classes(model_cls: type) -> list[type]:
    """The remote-code classes of ``model_cls``'s module (and its bases) that define ``_init_weights``."""
    modules = {c.__module__ for c in model_cls.__mro__ if c.__module__.startswith(REMOTE_PREFIX)}
    found: list[type] = []
    for name in modules:
        for obj in vars(sys.modules[name]).values():
            if isinstance(obj, type) and "_init_weights" in vars(obj) and obj.__module__ in modules:
                found.append(obj)
    return found


@contextlib.contextmanager
def no_reinit(model_cls: type) -> Iterator[None]:
    """While loading, the remote classes' ``_init_weights`` does nothing (restored afterwards)."""
    saved = [(c, vars(c)["_init_weights"]) for c in _remote_classes(model_cls)]
    for cls, _ in saved:
        cls._init_weights = lambda self, module: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, original in saved:
            cls._init_weights = original  # type: ignore[method-assign]


def rebuild_buffers(model: torch.nn.Module, source: str) -> None:
    """Give every non-persistent ``position_ids`` buffer its value (``0..n-1``); any other non-persistent
    buffer of remote code is an error (its value is unknown after a meta-device build)."""
    unknown = []
    for module_name, module in model.named_modules():
        if not type(module).__module__.startswith(REMOTE_PREFIX):
            continue  # transformers' own modules restore their buffers in their own _init_weights
        for name in sorted(module._non_persistent_buffers_set):
            buf = module._buffers.get(name)
            if buf is None:
                continue
            if name == "position_ids":
                ids = torch.arange(buf.shape[-1], device=buf.device, dtype=buf.dtype)
                module._buffers[name] = ids.expand(buf.shape).contiguous()
            else:
                unknown.append(f"{module_name}.{name}" if module_name else name)
    if unknown:
        raise HarnessError(f"{source!r}: the remote code's non-persistent buffer(s) {', '.join(unknown)} are not "
                           "restored by transformers 5 and cannot be rebuilt here; use encoder=native")


def load_remote_model(source: str, device: str, dtype: torch.dtype) -> torch.nn.Module:
    """``AutoModel.from_pretrained(source, trust_remote_code=True)`` done right (see the module docstring)."""
    from transformers import AutoConfig, AutoModel
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=True)
        ref = (getattr(config, "auto_map", None) or {}).get("AutoModel")
        model_cls = get_class_from_dynamic_module(ref, source) if ref else None
    except OSError as exc:
        raise HarnessError(f"cannot load {source!r} (a local folder or a reachable hub id is needed): {exc}") from exc
    kwargs = load_kwargs(device, dtype)
    guard = no_reinit(model_cls) if model_cls is not None else contextlib.nullcontext()
    try:
        with guard:
            model = strict_from_pretrained(AutoModel, source, "EVA-CLIP checkpoint", config=config,
                                           ignore_unexpected=[r"logit_scale"], **kwargs)  # see eva_clip_native
    except OSError as exc:
        raise HarnessError(f"cannot load {source!r} (a local folder or a reachable hub id is needed): {exc}") from exc
    if "device_map" not in kwargs:
        model.to(device)
    rebuild_buffers(model, source)
    return model.eval()
