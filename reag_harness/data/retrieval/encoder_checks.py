"""Pre-flight checks of an image retriever's encoder checkpoint (found, right kind, keys and shapes; no weights)."""

from __future__ import annotations

import os


def looks_like_path(value: str) -> bool:
    """A file path rather than an open_clip pretrained tag (``openai``, ``laion2b_s32b_b79k``, ...)."""
    return os.sep in value or value.startswith("~") or value.endswith((".bin", ".pt", ".pth", ".safetensors"))


def native_problems(source: str) -> list[str]:
    """The native EVA-CLIP-8B checkpoint ``source``: found (offline), an EVA-CLIP config, and its key set and
    shapes against the model built on the meta device (no weights loaded)."""
    from reag_harness.core.errors import HarnessError
    from reag_harness.models.checkpoint_check import checkpoint_problems
    from reag_harness.models.eva_clip_native import check_checkpoint, is_eva_clip_checkpoint
    from reag_harness.models.hf_checkpoints import resolve_checkpoint
    from reag_harness.models.tiny.eva_clip_8b import resolve_tiny

    source = resolve_tiny(source)
    if problems := checkpoint_problems(source):
        return problems
    folder, _ = resolve_checkpoint(source)
    if not os.path.isdir(folder):
        return []  # a hub id not yet downloaded, downloads allowed: from_pretrained fetches it
    if not is_eva_clip_checkpoint(folder):
        return [f"encoder=native: {folder!r} is not an EVA-CLIP checkpoint (its config.json names no "
                "EvaCLIPModel); use encoder=open_clip, hf or transformers"]
    try:
        check_checkpoint(folder)
    except HarnessError as exc:
        return [str(exc)]
    return []


def encoder_problems(backend: str, model: str, pretrained: str | None) -> list[str]:
    """The encoder's folder (or cache entry offline), config and weight files, by backend (``transformers``:
    EVA-CLIP's remote code is not run; ``native``; ``hf``: a transformers CLIP / SigLIP; ``open_clip``: a local
    weights file, while a tag downloads)."""
    if backend == "transformers":
        from reag_harness.models.checkpoint_check import checkpoint_problems

        return checkpoint_problems(pretrained or model, "model", trust_remote_code=True)
    if backend == "native":
        return native_problems(pretrained or model)
    if backend == "hf":
        from reag_harness.models.checkpoint_check import checkpoint_problems

        return checkpoint_problems(pretrained or model)
    if pretrained and looks_like_path(str(pretrained)) and not os.path.exists(os.path.expanduser(str(pretrained))):
        return [f"encoder=open_clip: no checkpoint file at {pretrained!r}: pass pretrained=PATH "
                "(a local weights file) or an open_clip tag"]
    return []
