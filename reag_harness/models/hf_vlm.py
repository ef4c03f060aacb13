"""The generic Hugging Face VLM path: any ``AutoModelForImageTextToText`` checkpoint with its processor.

One loader for every family: ``load_vlm`` caches ``(model, processor)`` per process, so a
checkpoint used by both the critic and the generator (or built twice by the runner) loads
once. Prompts are rendered with the checkpoint's own chat template (or, for a family
without one, by its adapter), batched with left padding, images read from their paths.
What differs between families (how images enter the chat, how the processor wants its
image list, image-size bounds, BLIP-2's plain prompt) lives in the small adapters of
:mod:`reag_harness.models.families`, chosen from ``config.model_type``; the processor
remembers its adapter and bounds, so the helpers below take only the processor.

A missing image is an :class:`~reag_harness.errors.InputError`, never a black image.
``pretrained="tiny:<family>"`` names a tiny random checkpoint built offline on first use
(:mod:`reag_harness.models.tiny_vlms`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reag_harness.errors import HarnessError, InputError
from reag_harness.interfaces import Component

from .families import FamilyAdapter, adapter_for

DTYPES = ("float32", "bfloat16", "float16", "auto")
BACKENDS = ("transformers", "vllm")
TINY_PREFIX = "tiny:"

_LOCK = threading.Lock()
_MODELS: dict[tuple[Any, ...], Any] = {}
_PROCESSORS: dict[tuple[Any, ...], Any] = {}
LOAD_COUNTS: dict[str, int] = {"model": 0, "processor": 0}
"""How many times a model / processor was actually read from disk in this process."""


# ----------------------------------------------------------------------------------------
# Checkpoints: names, identity, family
# ----------------------------------------------------------------------------------------


def resolve_pretrained(pretrained: str) -> str:
    """``tiny:<family>`` becomes the folder of that tiny checkpoint (built on first use); other names pass."""
    name = str(pretrained)
    if name.startswith(TINY_PREFIX):
        from .tiny_vlms import tiny_checkpoint

        return str(tiny_checkpoint(name[len(TINY_PREFIX):]))
    return name


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


def model_type(pretrained: str) -> str | None:
    """``config.model_type`` of a local or cached checkpoint, read from its ``config.json`` (None if absent)."""
    resolved, _ = resolve_checkpoint(pretrained)
    config = Path(resolved) / "config.json"
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return None


def _config_model_type(resolved: str, trust_remote_code: bool) -> str | None:
    """``model_type`` through ``AutoConfig`` (a hub id just downloaded by ``from_pretrained``)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(resolved, trust_remote_code=trust_remote_code).model_type
    except (OSError, ValueError):
        return None


def checkpoint_problems(pretrained: str, kind: str | None = None, trust_remote_code: bool = True) -> list[str]:
    """Pre-flight lines for a checkpoint: a missing local folder, a hub id absent from the local
    cache while the hub is offline, a family's missing optional package; with ``kind`` (the auto
    class, e.g. ``"vlm"``) also its weights against the model its config builds, and modelling code
    it ships that ``trust_remote_code`` does not allow (:mod:`reag_harness.model_check`). No network."""
    name = str(pretrained)
    problems = _location_problems(name)
    resolved, revision = resolve_checkpoint(name)
    if problems or kind is None or not os.path.isdir(resolved):
        return problems
    from reag_harness.model_check import remote_code_problem, weight_files, weight_problems

    if (why := remote_code_problem(resolved, name, trust_remote_code)) is not None:
        return [why]
    if revision is not None and not _hub_offline() and (not weight_files(Path(resolved))[0]
                                                        or weight_files(Path(resolved))[1]):
        return []  # a partly downloaded hub snapshot: from_pretrained fetches the rest
    return weight_problems(resolved, kind, name)


def _hub_offline() -> bool:
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:
        return False


def _location_problems(name: str) -> list[str]:
    """The checkpoint's folder, its cache entry, its family's optional packages."""
    resolved, _ = resolve_checkpoint(name)
    if name.startswith(("/", "./", "../", "~")) and not os.path.isdir(resolved):
        return [f"no checkpoint folder at '{name}': pass pretrained=/path/to/checkpoint (a local folder or a hub id)"]
    if not os.path.isdir(resolved):
        if _hub_offline():
            return [f"checkpoint '{name}' is not in the local Hugging Face cache and the hub is offline "
                    "(HF_HUB_OFFLINE): download it, or pass pretrained=/path/to/checkpoint"]
        return []
    if model_type(resolved) == "smolvlm" and importlib.util.find_spec("num2words") is None:
        return ["SmolVLM's processor needs the package 'num2words': pip install num2words"]
    return []


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
    return HarnessError(f"could not load checkpoint '{pretrained}': {exc}{hint}")


# ----------------------------------------------------------------------------------------
# Loading (cached per process)
# ----------------------------------------------------------------------------------------

AUTO_CLASSES = {"vlm": "AutoModelForImageTextToText", "causal-lm": "AutoModelForCausalLM"}


def load_model(pretrained: str, device: str = "cpu", dtype: str = "float32", attn_implementation: str | None = None,
               kind: str = "vlm", trust_remote_code: bool = False) -> Any:
    """The model of a checkpoint through ``AutoModelForImageTextToText`` (``kind="vlm"``) or
    ``AutoModelForCausalLM`` (``kind="causal-lm"``), cached by (path, device, dtype, attention, kind)."""
    resolved, _ = resolve_checkpoint(pretrained)
    _check_local(pretrained, resolved)
    attn = attn_implementation or default_attn_implementation(device)
    key = (resolved, device, dtype, attn, kind, bool(trust_remote_code))
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _load_model(resolved, pretrained, device, dtype, attn, kind, trust_remote_code)
            _MODELS[key] = model
    return model


def _load_model(resolved: str, pretrained: str, device: str, dtype: str, attn: str, kind: str,
                trust_remote_code: bool) -> Any:
    import torch
    import transformers

    auto = getattr(transformers, AUTO_CLASSES[kind])
    kwargs: dict[str, Any] = {"dtype": _torch_dtype(dtype), "attn_implementation": attn}
    if trust_remote_code:
        kwargs["trust_remote_code"] = True
    if device != "cpu" and importlib.util.find_spec("accelerate") is not None:
        kwargs["device_map"] = torch.device(device)  # load straight onto the GPU
    from .strict_load import strict_from_pretrained

    try:  # missing / unexpected / shape-mismatched weights are an error naming the keys
        model = strict_from_pretrained(auto, resolved, "checkpoint", **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_failure(pretrained, resolved, exc) from exc
    LOAD_COUNTS["model"] += 1
    return model.to(device).eval()


@dataclass(frozen=True)
class Family:
    """What the helpers need to know about a loaded processor: its adapter and the user's image bounds."""

    adapter: FamilyAdapter
    min_pixels: int | None = None
    max_pixels: int | None = None


def load_processor(pretrained: str, min_pixels: int | None = None, max_pixels: int | None = None,
                   model_max_length: int = 16384, trust_remote_code: bool = False) -> Any:
    """The checkpoint's processor, padding on the left, its family adapter attached; cached per process.

    ``min_pixels``/``max_pixels`` None take the family's defaults (Qwen-VL: ReAG's 3136 / 301056).
    """
    resolved, _ = resolve_checkpoint(pretrained)
    _check_local(pretrained, resolved)
    key = (resolved, min_pixels, max_pixels, int(model_max_length), bool(trust_remote_code))
    with _LOCK:
        processor = _PROCESSORS.get(key)
        if processor is None:
            processor = _load_processor(resolved, pretrained, min_pixels, max_pixels, model_max_length,
                                        trust_remote_code)
            _PROCESSORS[key] = processor
    return processor


def _load_processor(resolved: str, pretrained: str, min_pixels: int | None, max_pixels: int | None,
                    model_max_length: int, trust_remote_code: bool) -> Any:
    from transformers import AutoProcessor

    kwargs: dict[str, Any] = {"model_max_length": model_max_length}
    if trust_remote_code:
        kwargs["trust_remote_code"] = True
    try:
        processor = AutoProcessor.from_pretrained(resolved, **kwargs)
    except (OSError, ValueError) as exc:
        raise _load_failure(pretrained, resolved, exc) from exc
    adapter = adapter_for(model_type(resolved) or _config_model_type(resolved, trust_remote_code))
    lo = adapter.min_pixels if min_pixels is None else int(min_pixels)
    hi = adapter.max_pixels if max_pixels is None else int(max_pixels)
    adapter.configure(processor, lo, hi)
    tokenizer_of(processor).padding_side = "left"
    processor.reag_family = Family(adapter, lo, hi)
    LOAD_COUNTS["processor"] += 1
    return processor


def tokenizer_of(processor: Any) -> Any:
    """The tokenizer of a processor (a text-only checkpoint's "processor" is its tokenizer)."""
    return getattr(processor, "tokenizer", processor)


def family_of(processor: Any) -> Family:
    """The family a processor was loaded with (the default adapter for one loaded elsewhere)."""
    family = getattr(processor, "reag_family", None)
    return family if isinstance(family, Family) else Family(FamilyAdapter())


def load_vlm(pretrained: str, device: str = "cpu", dtype: str = "float32", attn_implementation: str | None = None,
             min_pixels: int | None = None, max_pixels: int | None = None, model_max_length: int = 16384,
             trust_remote_code: bool = False) -> tuple[Any, Any]:
    """``(model, processor)`` of a VLM checkpoint (hub id, local folder or ``tiny:<family>``), cached per process."""
    pretrained = resolve_pretrained(pretrained)
    model = load_model(pretrained, device, dtype, attn_implementation, "vlm", trust_remote_code)
    return model, load_processor(pretrained, min_pixels, max_pixels, model_max_length, trust_remote_code)


def clear_cache() -> None:
    """Forget every loaded model and processor (frees memory once no component holds them)."""
    with _LOCK:
        _MODELS.clear()
        _PROCESSORS.clear()


# ----------------------------------------------------------------------------------------
# Tokens
# ----------------------------------------------------------------------------------------


def single_token_id(tokenizer: Any, word: str) -> int:
    """The id of ``word`` when it is a single token (e.g. "Yes"); HarnessError otherwise."""
    ids = tokenizer.encode(word, add_special_tokens=False)
    if len(ids) != 1:
        raise HarnessError(f"the checkpoint's tokenizer splits {word!r} into {len(ids)} tokens {ids}; expected one")
    return int(ids[0])


def answer_token_id(processor: Any, word: str = "Yes") -> int:
    """The single token the model would emit for ``word`` right after its generation prompt.

    After a prompt that ends in whitespace (Qwen's ``assistant\\n``) that is ``word``; after
    one that ends in a character (LLaVA's ``ASSISTANT:``, BLIP-2's ``Answer:``) it is
    ``" " + word``. HarnessError when the tokenizer does not give it one token there.
    """
    tokenizer = tokenizer_of(processor)
    prompt = family_of(processor).adapter.render(processor, [{"role": "user", "content": [
        {"type": "text", "text": "Question?"}]}])
    spelled = word if (not prompt or prompt[-1].isspace()) else " " + word
    tail = prompt[-24:]
    before = tokenizer.encode(tail, add_special_tokens=False)
    after = tokenizer.encode(tail + spelled, add_special_tokens=False)
    if len(after) == len(before) + 1 and after[:len(before)] == before:
        return int(after[-1])
    if spelled == word:
        return single_token_id(tokenizer, word)
    raise HarnessError(f"the checkpoint's tokenizer does not give {spelled!r} one token after its generation "
                       f"prompt ({tail!r} -> {after[len(before):] if after[:len(before)] == before else after}); "
                       "expected one")


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
            path = item_image_path(item)
            if path is not None:
                paths.append(path)
    return paths


def item_image_path(item: Mapping[str, Any]) -> str | None:
    """The file path of a chat item's image (None for a text item); images travel as paths, never pixels."""
    if not (item.get("type") == "image" or "image" in item):
        return None
    image = item.get("image")
    if not isinstance(image, (str, os.PathLike)):
        raise InputError("<messages>", f"expected an image file path, got {type(image).__name__}", field="image")
    return os.fspath(image)


def check_images(paths: Sequence[str]) -> None:
    """InputError naming the first image path that is not a readable file."""
    for path in paths:
        if not os.path.isfile(path):
            raise InputError(path, "image file not found", field="image")


def render(processor: Any, messages: Sequence[Mapping[str, Any]], assistant_prefix: str = "") -> Prompt:
    """The chat template with the generation prompt, then ``assistant_prefix`` (e.g. ``<think>``)."""
    images = message_images(messages)
    check_images(images)
    adapter = family_of(processor).adapter
    if not images and not adapter.text_only_prompts:
        raise HarnessError(f"{adapter.name} needs an image in every prompt; this request has none")
    text = adapter.render(processor, messages)
    return Prompt(text=text + assistant_prefix, images=tuple(images))


def prompt_length(processor: Any, prompt: Prompt, sizes: dict[str, tuple[int, int]] | None = None) -> int:
    """Number of tokens the prompt will take (text tokens plus image tokens): the sort key.

    ``sizes`` caches image sizes by path across calls (many critic pairs share an image).
    """
    from PIL import Image

    family = family_of(processor)
    sizes = {} if sizes is None else sizes
    special = family.adapter.add_special_tokens(processor, prompt.text)
    # verbose=False: measuring an over-long prompt (for the prompt policy) is not an error
    n = len(tokenizer_of(processor)(prompt.text, add_special_tokens=special, verbose=False)["input_ids"])
    for path in prompt.images:
        if path not in sizes:
            with Image.open(path) as im:
                w, h = im.size
            if family.max_pixels is not None and w * h > family.max_pixels and not family.adapter.bounds_in_processor:
                scale = (family.max_pixels / (w * h)) ** 0.5
                w, h = max(1, int(w * scale)), max(1, int(h * scale))
            sizes[path] = (w, h)
    counts = family.adapter.image_tokens(processor, [sizes[p] for p in prompt.images])
    return n + sum(c - family.adapter.placeholders_per_image() for c in counts)


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


def prepared_image(processor: Any, path: str) -> Any:
    """The image at ``path`` as the family's processor should get it (RGB, within the pixel bounds)."""
    family = family_of(processor)
    return family.adapter.prepare_image(load_image(path), family.min_pixels, family.max_pixels)


def batch_inputs(processor: Any, prompts: Sequence[Prompt], device: str | None = None) -> Any:
    """Processor inputs for a batch (left padding), images loaded with PIL, moved to ``device``."""
    cache: dict[str, Any] = {}
    images: list[list[Any]] = []
    for prompt in prompts:
        per_prompt = []
        for path in prompt.images:
            if path not in cache:
                cache[path] = prepared_image(processor, path)
            per_prompt.append(cache[path])
        images.append(per_prompt)
    tokenizer_of(processor).padding_side = "left"
    inputs = family_of(processor).adapter.inputs(processor, [p.text for p in prompts], images)
    return inputs.to(device) if device else inputs


def max_positions(model: Any) -> int | None:
    """The language model's ``max_position_embeddings`` (None when it does not say)."""
    n = getattr(model.config.get_text_config(), "max_position_embeddings", None)
    return int(n) if n else None


def check_prompt_lengths(model: Any, lengths: Sequence[int]) -> None:
    """HarnessError when a prompt is longer than the model's positions (instead of an index error inside it)."""
    limit = max_positions(model)
    if limit and lengths and max(lengths) > limit:
        raise HarnessError(f"a prompt of {max(lengths)} tokens is longer than the model's {limit} positions: "
                           f"set max_prompt_tokens (at most {limit} minus max_new_tokens; 'auto' "
                           "does this) with prompt_policy=truncate (drop the last passages) or prompt_policy=error "
                           "(that sample scored wrong), give it fewer passages (a smaller retriever top_k) or use a "
                           "longer-context model")


CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def context_length(pretrained: str) -> tuple[int | None, int | None]:
    """``(context length, generation_config max_new_tokens)`` of a local or cached checkpoint, read from its
    ``config.json`` (the text config of a VLM) and ``generation_config.json``; None for what is not there."""
    resolved, _ = resolve_checkpoint(pretrained)
    root = Path(resolved)
    try:
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    context = None
    for part in (config.get("text_config"), config.get("llm_config"), config):
        if isinstance(part, dict):
            found = [int(part[k]) for k in CONTEXT_KEYS if isinstance(part.get(k), int) and part[k] > 0]
            if found:
                context = found[0]
                break
    try:
        generation = json.loads((root / "generation_config.json").read_text(encoding="utf-8"))
        new = generation.get("max_new_tokens")
    except (OSError, ValueError, AttributeError):
        new = None
    return context, new if isinstance(new, int) and new > 0 else None


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` cut right after the earliest stop string (the stop string is kept)."""
    ends = [i + len(s) for s in stop if s and (i := text.find(s)) >= 0]
    return text[: min(ends)] if ends else text


# ----------------------------------------------------------------------------------------
# What every VLM critic and generator shares
# ----------------------------------------------------------------------------------------


class VLMComponent(Component):
    """What a VLM critic and generator share: checkpoint, backend, processor bounds, loading."""

    kind = "component"
    model_kind = "vlm"  # the auto class: "vlm" (image-text-to-text) or "causal-lm"
    auto_batch_start = 32
    identity_excludes: tuple[str, ...] = ("batch_size", "gpu_memory_utilization")

    def setup_vlm(self, pretrained: str, batch_size: int | str | None, backend: str, min_pixels: int | None,
                  max_pixels: int | None, model_max_length: int, attn_implementation: str | None,
                  gpu_memory_utilization: float | None, trust_remote_code: bool = False) -> None:
        """Validate and keep the shared options; with ``backend="vllm"`` fail early without vllm.

        ``pretrained="tiny:<family>"`` is resolved here (the tiny checkpoint is built on first use).
        """
        if backend not in BACKENDS:
            raise HarnessError(f"{self.kind} backend '{backend}' is unknown: use one of {', '.join(BACKENDS)}")
        self.pretrained = resolve_pretrained(str(pretrained))
        self.batch_size: int | str = self.runtime.batch_size if batch_size is None else batch_size
        self.backend = backend
        self.processor_args = dict(min_pixels=None if min_pixels is None else int(min_pixels),
                                   max_pixels=None if max_pixels is None else int(max_pixels),
                                   model_max_length=int(model_max_length))
        self.attn_implementation = attn_implementation
        self.trust_remote_code = bool(trust_remote_code)
        self.engine_args = {} if gpu_memory_utilization is None else {
            "gpu_memory_utilization": float(gpu_memory_utilization)}
        self._engine: Any = None
        self._auto_start = self.auto_batch_start
        if backend == "vllm":
            from reag_harness.models.vllm_backend import require_vllm

            require_vllm()  # fail at construction, with the install hint

    setup_qwen = setup_vlm  # the name the Qwen components used before the generic path

    def preflight(self) -> list[str]:
        """What would stop the checkpoint from loading, found without loading it (no network)."""
        return checkpoint_problems(self.pretrained, self.model_kind, self.trust_remote_code)

    def identity(self) -> dict[str, Any]:
        """Name, arguments (``identity_excludes`` left out), dtype and the checkpoint's identity."""
        args = {k: v for k, v in self.args.items() if k not in self.identity_excludes}
        return {"name": self.name, "version": self.version, "args": args, "dtype": self.runtime.dtype,
                "checkpoint": checkpoint_identity(self.pretrained)}

    def model_and_processor(self) -> tuple[Any, Any]:
        """The shared (model, processor), loaded on first use."""
        return load_vlm(self.pretrained, self.runtime.device, self.runtime.dtype, self.attn_implementation,
                        trust_remote_code=self.trust_remote_code, **self.processor_args)

    def runtime_facts(self) -> dict[str, Any]:
        """What ran (recorded in results.json): backend and the attention implementation of the loaded model."""
        if self.backend == "vllm":
            return {"backend": "vllm", "attn_implementation": "vllm's own attention backend"}
        resolved, _ = resolve_checkpoint(self.pretrained)
        attn = self.attn_implementation or default_attn_implementation(self.runtime.device)
        model = _MODELS.get((resolved, self.runtime.device, self.runtime.dtype, attn, self.model_kind,
                             self.trust_remote_code))
        if model is None:
            return {"backend": "transformers", "attn_implementation": None,
                    "note": "the model was not loaded in this run (every record came from the stage cache)"}
        ran = getattr(model.config, "_attn_implementation", None) or attn
        return {"backend": "transformers", "attn_implementation": ran}

    def _vllm(self) -> Any:
        from reag_harness.models.vllm_backend import VLLMEngine

        if self._engine is None:
            dtype = "bfloat16" if self.runtime.dtype == "auto" else self.runtime.dtype
            self._engine = VLLMEngine.shared(self.pretrained, dtype, seed=self.runtime.seed,
                                             trust_remote_code=self.trust_remote_code, **self.processor_args,
                                             **self.engine_args)
        return self._engine

    def named(self, name: str) -> VLMComponent:
        """This component under a registered name (``reag-7b``, ``tiny-critic``, ...)."""
        self.name = name
        return self
