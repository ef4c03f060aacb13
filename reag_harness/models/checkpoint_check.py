"""Pre-flight for a Hugging Face checkpoint: where it is, its remote code, the weights its config's model needs.

Without loading a weight: the checkpoint's key set is read from its safetensors headers, its
shard index (``*.index.json``) or a ``.bin`` opened memory-mapped; the model is built from its
``config.json`` on the meta device; the checkpoint keys are renamed the way transformers renames
them when it loads (``get_model_conversion_mapping``: e.g. a transformers-4 Qwen2.5-VL checkpoint)
and compared with the model's. A weight removed or renamed is named before any stage runs,
instead of a random initialisation (or an error) hours later.

:func:`checkpoint_problems` gives the pre-flight lines of a checkpoint (its folder or cache entry,
optional packages, remote code, weights); :func:`weight_problems` those of its weights alone (empty when
all is well). Anything this check cannot judge (remote code, an unknown architecture) is left to the
loader, never a false alarm. No network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from .hf_checkpoints import model_type, resolve_checkpoint

SHOWN = 5  # keys named per problem line

AUTO_CLASSES = {"vlm": "AutoModelForImageTextToText", "causal-lm": "AutoModelForCausalLM",
                "sequence-classification": "AutoModelForSequenceClassification", "model": "AutoModel",
                "zero-shot-detection": "AutoModelForZeroShotObjectDetection"}


def weight_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The weight files of a checkpoint folder, and problems (a shard named by the index but absent)."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                return [], [f"{index} is unreadable ({type(exc).__name__}: {exc})"]
            shards = sorted(set(weight_map.values()))
            absent = [s for s in shards if not (folder / s).is_file()]
            if absent:
                return [], [f"{len(absent)} of {len(shards)} weight shard(s) named by {index.name} are missing "
                            f"from {folder}: {', '.join(absent[:SHOWN])} (an unfinished download?)"]
            return [folder / s for s in shards], []
    for pattern in ("*.safetensors", "pytorch_model*.bin"):
        found = sorted(folder.glob(pattern))
        if found:
            return found, []
    return [], [f"no weights in {folder} (model.safetensors, a shard index or pytorch_model.bin)"]


def checkpoint_keys(files: list[Path]) -> list[str]:
    """Every weight name stored in the files (safetensors headers; a ``.bin`` memory-mapped)."""
    keys: list[str] = []
    for f in files:
        if f.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(f), "pt") as handle:
                keys += list(handle.keys())
        else:
            import torch

            try:
                state = torch.load(str(f), map_location="cpu", mmap=True, weights_only=True)
            except RuntimeError as exc:
                if "mmap" in str(exc):  # the legacy (pre-zip) format: its keys cost a full read, left to the loader
                    raise _NotCheap from exc
                raise
            keys += list(state)
    return keys


class _NotCheap(Exception):
    """The key set cannot be read without loading the weights."""


def _meta_model(folder: Path, kind: str) -> Any | None:
    """The model of ``folder``'s config on the meta device (None when it needs remote code or is unknown)."""
    import torch
    import transformers
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
    except Exception:  # noqa: BLE001 - remote-code or unknown config: the loader reports it
        return None
    auto = getattr(transformers, AUTO_CLASSES.get(kind, "AutoModel"))
    try:
        with torch.device("meta"):
            return auto.from_config(config)
    except Exception:  # noqa: BLE001 - an architecture the auto class does not map: left to the loader
        return None


def _ignored(key: str, patterns: Any) -> bool:
    return any(re.search(p, key) for p in (patterns or []))


def key_mismatch(model: Any, keys: list[str]) -> tuple[list[str], list[str]]:
    """``(missing, unexpected)``: model weights the checkpoint lacks, checkpoint weights the model has no
    place for (checkpoint names), after transformers' own renaming, tied weights and ignore lists."""
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import WeightConverter, rename_source_key

    expected = model.state_dict()
    transforms = get_model_conversion_mapping(model)
    converters = [t for t in transforms if isinstance(t, WeightConverter)]
    renamings = [t for t in transforms if not isinstance(t, WeightConverter)]
    renamed: dict[str, str] = {}
    for key in keys:
        target, _ = rename_source_key(key, renamings, converters, model.base_model_prefix, expected)
        renamed.setdefault(target, key)
    tied = set(getattr(model, "all_tied_weights_keys", None) or {})
    ignore_missing = getattr(model, "_keys_to_ignore_on_load_missing", None)
    ignore_unexpected = getattr(model, "_keys_to_ignore_on_load_unexpected", None)
    missing = sorted(k for k in expected if k not in renamed and k not in tied and not _ignored(k, ignore_missing))
    missing = [_with_checkpoint_name(k, renamed) for k in missing]
    unexpected = sorted(src for tgt, src in renamed.items()
                        if tgt not in expected and not _ignored(src, ignore_unexpected))
    return missing, unexpected


def _with_checkpoint_name(key: str, renamed: dict[str, str]) -> str:
    """``key`` plus the name the checkpoint would give it, guessed from the renamings seen on the other
    keys (a transformers-4 checkpoint: ``model.layers.0...`` for ``model.language_model.layers.0...``)."""
    prefixes: dict[str, str] = {}
    for target, source in renamed.items():
        if target == source:
            continue
        t_parts, s_parts = target.split("."), source.split(".")
        n = 0  # name parts in common at the end, the shorter name's first part excluded
        while n < min(len(t_parts), len(s_parts)) - 1 and t_parts[-1 - n] == s_parts[-1 - n]:
            n += 1
        t_prefix = ".".join(t_parts[:len(t_parts) - n]) + "."
        prefixes.setdefault(t_prefix, ".".join(s_parts[:len(s_parts) - n]) + "." if len(s_parts) > n else "")
    for t_prefix in sorted(prefixes, key=len, reverse=True):
        if t_prefix and key.startswith(t_prefix):
            return f"{key} (in the checkpoint: {prefixes[t_prefix]}{key[len(t_prefix):]})"
    return key


def _named(keys: list[str]) -> str:
    return ", ".join(keys[:SHOWN]) + (f" (+{len(keys) - SHOWN} more)" if len(keys) > SHOWN else "")


def weight_problems(folder: str | Path, kind: str = "vlm", name: str | None = None) -> list[str]:
    """Pre-flight lines for the weights of a local (or cached) checkpoint folder; no weight is loaded."""
    root = Path(folder)
    label = name or str(root)
    if not (root / "config.json").is_file():
        return [f"checkpoint '{label}': no config.json in {root}"]
    try:
        json.loads((root / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"checkpoint '{label}': {root / 'config.json'} is unreadable ({exc})"]
    files, problems = weight_files(root)
    if problems:
        return [f"checkpoint '{label}': {p}" for p in problems]
    if importlib.util.find_spec("transformers") is None:
        return []
    model = _meta_model(root, kind)
    if model is None:
        return []
    try:
        keys = checkpoint_keys(files)
    except _NotCheap:
        return []
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt weight file
        return [f"checkpoint '{label}': a weight file in {root} is unreadable ({type(exc).__name__}: {exc})"]
    missing, unexpected = key_mismatch(model, keys)
    out = []
    if missing:
        out.append(f"checkpoint '{label}': {len(missing)} weight(s) of {type(model).__name__} are not in "
                   f"{root}: {_named(missing)} (a damaged, renamed or other-architecture checkpoint)")
    if unexpected:
        out.append(f"checkpoint '{label}': {len(unexpected)} weight(s) in {root} have no place in "
                   f"{type(model).__name__}: {_named(unexpected)}")
    return out


def remote_code_problem(folder: str | Path, name: str, trust_remote_code: bool) -> str | None:
    """A checkpoint whose config maps to its own modelling code (``auto_map``) needs ``trust_remote_code``."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if trust_remote_code or not isinstance(config, dict) or not config.get("auto_map"):
        return None
    if config.get("model_type") and _native(str(config["model_type"])):
        return None
    return (f"checkpoint '{name}' runs its own modelling code ({Path(folder) / 'config.json'} has an auto_map): "
            "pass trust_remote_code=true in this component's arguments to allow it")


def _native(model_type: str) -> bool:
    """Whether transformers itself knows ``model_type`` (then ``auto_map`` is not needed)."""
    try:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    except ImportError:
        return False
    return model_type in CONFIG_MAPPING_NAMES




def checkpoint_problems(pretrained: str, kind: str | None = None, trust_remote_code: bool = True) -> list[str]:
    """Pre-flight lines for a checkpoint: a missing local folder, a hub id absent from the local
    cache while the hub is offline, a family's missing optional package; with ``kind`` (the auto
    class, e.g. ``"vlm"``) also its weights against the model its config builds, and modelling code
    it ships that ``trust_remote_code`` does not allow. No network."""
    name = str(pretrained)
    problems = _location_problems(name)
    resolved, revision = resolve_checkpoint(name)
    if problems or kind is None or not os.path.isdir(resolved):
        return problems
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
