"""Hugging Face checkpoints without loading them: local folder or cached snapshot, identity hash, config facts.

Nothing here touches the network: a hub id is looked up in the local Hugging Face cache only.
``tiny:<family>`` names are resolved one layer up (:func:`reag_harness.models.hf_vlm.resolve_pretrained`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


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
