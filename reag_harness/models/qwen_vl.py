"""The shared Qwen2.5-VL loader: the critic and the generator share one loaded checkpoint.

``load_qwen_vl`` caches ``(model, processor)`` per process, so a checkpoint used by both
the critic and the generator (or built twice by the runner) loads once. The helpers here
turn our chat messages (image items are file paths) into batched processor inputs with
left padding; a missing image is an :class:`~reag_harness.errors.InputError`, never a
black image.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reag_harness.errors import HarnessError, InputError
from reag_harness.interfaces import Component

DTYPES = ("float32", "bfloat16", "float16", "auto")

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str, str, str], Any] = {}
_PROCESSORS: dict[tuple[str, int, int, int], Any] = {}
LOAD_COUNTS: dict[str, int] = {"model": 0, "processor": 0}
"""How many times a model / processor was actually read from disk in this process."""


def resolve_checkpoint(pretrained: str) -> tuple[str, str | None]:
    """``(path_or_hub_id, revision)``: a local folder becomes its absolute path; a hub id
    found in the local Hugging Face cache becomes its snapshot folder and commit (no network)."""
    expanded = os.path.expanduser(str(pretrained))
    if os.path.isdir(expanded):
        return str(Path(expanded).resolve()), None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(str(pretrained), "config.json")
    except Exception:  # not a valid repo id, or no hub client: leave it to from_pretrained
        cached = None
    if isinstance(cached, str):
        snapshot = Path(cached).parent
        return str(snapshot), snapshot.name
    return str(pretrained), None


def checkpoint_identity(pretrained: str) -> dict[str, Any]:
    """What identifies a checkpoint's weights, without loading it.

    Local folder: its resolved path plus a hash of ``config.json``, the safetensors index
    and every file's name, size and mtime. Hub id: the id plus the cached commit (if any).
    """
    resolved, revision = resolve_checkpoint(pretrained)
    if revision is not None:
        return {"hub_id": str(pretrained), "revision": revision}
    root = Path(resolved)
    if not root.is_dir():
        return {"hub_id": str(pretrained), "revision": None}
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors.index.json", "generation_config.json"):
        if (root / name).is_file():
            digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    for child in sorted(root.iterdir()):
        if child.is_file():
            st = child.stat()
            digest.update(f"{child.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"path": str(root), "hash": digest.hexdigest()[:16]}


def _torch_dtype(dtype: str) -> Any:
    import torch

    if dtype not in DTYPES:
        raise HarnessError(f"unknown dtype '{dtype}': use one of {', '.join(DTYPES)}")
    return "auto" if dtype == "auto" else getattr(torch, dtype)


def default_attn_implementation(device: str) -> str:
    """flash-attention 2 on CUDA when ``flash_attn`` is importable, else sdpa."""
    if device.startswith("cuda"):
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def _check_local(pretrained: str, resolved: str) -> None:
    """A path-like name (``/x``, ``./x``, ``~/x``) must be an existing folder: say so, don't ask the hub."""
    name = str(pretrained)
    if name.startswith(("/", "./", "../", "~")) and not os.path.isdir(resolved):
        raise HarnessError(f"no checkpoint folder at '{name}' (pretrained= takes a local folder or a hub id)")


def _load_failure(pretrained: str, resolved: str, exc: Exception) -> HarnessError:
    hint = "" if os.path.isdir(resolved) else (
        ". It is neither a local folder nor in the Hugging Face cache (offline?): download it and pass "
        "pretrained=/path/to/checkpoint"
    )
    return HarnessError(f"could not load Qwen2.5-VL checkpoint '{pretrained}': {exc}{hint}")


def load_qwen_vl(
    pretrained: str,
    device: str = "cpu",
    dtype: str = "float32",
    attn_implementation: str | None = None,
    min_pixels: int = 3136,
    max_pixels: int = 301056,
    model_max_length: int = 16384,
) -> tuple[Any, Any]:
    """``(model, processor)`` for a Qwen2.5-VL checkpoint (hub id or local folder), cached per process.

    The model is cached by (resolved path, device, dtype, attention), the processor by
    (resolved path, pixel bounds, max length). The processor pads on the left; its image
    processor resizes to ``min_pixels <= h*w <= max_pixels`` (multiples of 28).
    """
    resolved, _ = resolve_checkpoint(pretrained)
    _check_local(pretrained, resolved)
    attn = attn_implementation or default_attn_implementation(device)
    model_key = (resolved, device, dtype, attn)
    with _LOCK:
        model = _MODELS.get(model_key)
        if model is None:
            model = _load_model(resolved, pretrained, device, dtype, attn)
            _MODELS[model_key] = model
    return model, load_qwen_processor(pretrained, min_pixels, max_pixels, model_max_length)


def load_qwen_processor(
    pretrained: str, min_pixels: int = 3136, max_pixels: int = 301056, model_max_length: int = 16384
) -> Any:
    """The checkpoint's processor alone (the vLLM backend renders prompts with it), cached per process."""
    resolved, _ = resolve_checkpoint(pretrained)
    _check_local(pretrained, resolved)
    key = (resolved, int(min_pixels), int(max_pixels), int(model_max_length))
    with _LOCK:
        processor = _PROCESSORS.get(key)
        if processor is None:
            processor = _load_processor(resolved, pretrained, min_pixels, max_pixels, model_max_length)
            _PROCESSORS[key] = processor
    return processor


def _load_model(resolved: str, pretrained: str, device: str, dtype: str, attn: str) -> Any:
    import torch
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = {"dtype": _torch_dtype(dtype), "attn_implementation": attn}
    if device != "cpu" and importlib.util.find_spec("accelerate") is not None:
        kwargs["device_map"] = torch.device(device)  # load straight onto the GPU
    try:
        model = AutoModelForImageTextToText.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_failure(pretrained, resolved, exc) from exc
    LOAD_COUNTS["model"] += 1
    return model.to(device).eval()


def _load_processor(resolved: str, pretrained: str, min_pixels: int, max_pixels: int, model_max_length: int) -> Any:
    from transformers import AutoProcessor
    from transformers.image_utils import SizeDict

    try:
        processor = AutoProcessor.from_pretrained(resolved, model_max_length=model_max_length)
    except (OSError, ValueError) as exc:
        raise _load_failure(pretrained, resolved, exc) from exc
    # Set the pixel bounds after loading: a ``size=`` kwarg would lose against the
    # ``min_pixels``/``max_pixels`` keys of older preprocessor configs (ReAG's).
    processor.image_processor.size = SizeDict(shortest_edge=int(min_pixels), longest_edge=int(max_pixels))
    processor.tokenizer.padding_side = "left"
    LOAD_COUNTS["processor"] += 1
    return processor


def clear_cache() -> None:
    """Forget every loaded model and processor (frees memory once no component holds them)."""
    with _LOCK:
        _MODELS.clear()
        _PROCESSORS.clear()


def single_token_id(tokenizer: Any, word: str) -> int:
    """The id of ``word`` when it is a single token (e.g. "Yes"); HarnessError otherwise."""
    ids = tokenizer.encode(word, add_special_tokens=False)
    if len(ids) != 1:
        raise HarnessError(f"the checkpoint's tokenizer splits {word!r} into {len(ids)} tokens {ids}; expected one")
    return int(ids[0])


# ----------------------------------------------------------------------------------------
# Chat messages -> processor inputs
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A rendered chat (template text with the assistant prefix) and its image paths, in order."""

    text: str
    images: tuple[str, ...]


def message_images(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The image paths of a chat, in the order the template places their placeholders."""
    paths: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) or content is None:
            continue
        for item in content:
            if item.get("type") == "image" or "image" in item:
                image = item.get("image")
                if not isinstance(image, (str, os.PathLike)):
                    raise InputError("<messages>", f"expected an image file path, got {type(image).__name__}",
                                     field="image")
                paths.append(os.fspath(image))
    return paths


def check_images(paths: Sequence[str]) -> None:
    """InputError naming the first image path that is not a readable file."""
    for path in paths:
        if not os.path.isfile(path):
            raise InputError(path, "image file not found", field="image")


def render(processor: Any, messages: Sequence[Mapping[str, Any]], assistant_prefix: str = "") -> Prompt:
    """The chat template with the generation prompt, then ``assistant_prefix`` (e.g. ``<think>``)."""
    images = message_images(messages)
    check_images(images)
    text = processor.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    return Prompt(text=text + assistant_prefix, images=tuple(images))


def prompt_length(processor: Any, prompt: Prompt, sizes: dict[str, tuple[int, int]] | None = None) -> int:
    """Number of tokens the prompt will take (text tokens plus image tokens): the sort key.

    ``sizes`` caches image sizes by path across calls (many critic pairs share an image).
    """
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    sizes = {} if sizes is None else sizes
    n = len(processor.tokenizer(prompt.text, add_special_tokens=False)["input_ids"])
    ip = processor.image_processor
    factor = ip.patch_size * ip.merge_size
    for path in prompt.images:
        if path not in sizes:
            with Image.open(path) as im:
                sizes[path] = im.size
        w, h = sizes[path]
        rh, rw = smart_resize(h, w, factor=factor, min_pixels=ip.size.shortest_edge, max_pixels=ip.size.longest_edge)
        n += (rh // factor) * (rw // factor) - 1
    return n


def load_image(path: str) -> Any:
    """An RGB PIL image; InputError (field 'image') when missing or unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError as exc:
        raise InputError(path, "image file not found", field="image") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(path, f"unreadable image: {exc}", field="image") from exc


def batch_inputs(processor: Any, prompts: Sequence[Prompt], device: str | None = None) -> Any:
    """Processor inputs for a batch (left padding), images loaded with PIL, moved to ``device``."""
    cache: dict[str, Any] = {}
    images = []
    for prompt in prompts:
        for path in prompt.images:
            if path not in cache:
                cache[path] = load_image(path)
            images.append(cache[path])
    processor.tokenizer.padding_side = "left"
    inputs = processor(text=[p.text for p in prompts], images=images or None, padding=True, return_tensors="pt")
    return inputs.to(device) if device else inputs



def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` cut right after the earliest stop string (the stop string is kept)."""
    ends = [i + len(s) for s in stop if s and (i := text.find(s)) >= 0]
    return text[: min(ends)] if ends else text


BACKENDS = ("transformers", "vllm")


class QwenVLComponent(Component):
    """What the Qwen2.5-VL critic and generator share: checkpoint, backend, processor bounds, loading."""

    kind = "component"
    auto_batch_start = 32
    identity_excludes: tuple[str, ...] = ("batch_size", "gpu_memory_utilization")

    def setup_qwen(self, pretrained: str, batch_size: int | str | None, backend: str, min_pixels: int,
                   max_pixels: int, model_max_length: int, attn_implementation: str | None,
                   gpu_memory_utilization: float | None) -> None:
        """Validate and keep the shared options; with ``backend="vllm"`` fail early without vllm."""
        if backend not in BACKENDS:
            raise HarnessError(f"{self.kind} backend '{backend}' is unknown: use one of {', '.join(BACKENDS)}")
        self.pretrained = str(pretrained)
        self.batch_size: int | str = self.runtime.batch_size if batch_size is None else batch_size
        self.backend = backend
        self.processor_args = dict(min_pixels=int(min_pixels), max_pixels=int(max_pixels),
                                   model_max_length=int(model_max_length))
        self.attn_implementation = attn_implementation
        self.engine_args = {} if gpu_memory_utilization is None else {
            "gpu_memory_utilization": float(gpu_memory_utilization)}
        self._engine: Any = None
        self._auto_start = self.auto_batch_start
        if backend == "vllm":
            from reag_harness.models.vllm_backend import require_vllm

            require_vllm()  # fail at construction, with the install hint

    def identity(self) -> dict[str, Any]:
        """Name, arguments (``identity_excludes`` left out), dtype and the checkpoint's identity."""
        args = {k: v for k, v in self.args.items() if k not in self.identity_excludes}
        return {"name": self.name, "version": self.version, "args": args, "dtype": self.runtime.dtype,
                "checkpoint": checkpoint_identity(self.pretrained)}

    def model_and_processor(self) -> tuple[Any, Any]:
        """The shared (model, processor), loaded on first use."""
        return load_qwen_vl(self.pretrained, self.runtime.device, self.runtime.dtype,
                            self.attn_implementation, **self.processor_args)

    def runtime_facts(self) -> dict[str, Any]:
        """What ran (recorded in results.json): backend and the attention implementation of the loaded model."""
        if self.backend == "vllm":
            return {"backend": "vllm", "attn_implementation": "vllm's own attention backend"}
        resolved, _ = resolve_checkpoint(self.pretrained)
        attn = self.attn_implementation or default_attn_implementation(self.runtime.device)
        model = _MODELS.get((resolved, self.runtime.device, self.runtime.dtype, attn))
        if model is None:
            return {"backend": "transformers", "attn_implementation": None,
                    "note": "the model was not loaded in this run (every record came from the stage cache)"}
        ran = getattr(model.config, "_attn_implementation", None) or attn
        return {"backend": "transformers", "attn_implementation": ran}

    def _vllm(self) -> Any:
        from reag_harness.models.vllm_backend import VLLMEngine

        if self._engine is None:
            dtype = "bfloat16" if self.runtime.dtype == "auto" else self.runtime.dtype
            self._engine = VLLMEngine.shared(self.pretrained, dtype, seed=self.runtime.seed, **self.processor_args,
                                             **self.engine_args)
        return self._engine

    def named(self, name: str) -> QwenVLComponent:
        """This component under a registered name (``reag-7b``, ``tiny-critic``, ...)."""
        self.name = name
        return self
