"""Stage-store keys and the checks a stored record must match (what makes a cache entry valid)."""

from __future__ import annotations

from typing import Any

from ..core.digests import digests
from ..records import ChatRequest, Sample
from .store import fingerprint

STAGE_VERSIONS = {"retrieve": "1", "judge": "2", "generate": "1"}  # judge 2: blank passages dropped


def stage_fingerprints(task_name: str, kb: Any, retriever: Any, critic_ident: dict[str, Any],
                       generator: Any) -> dict[str, str]:
    """Each stage store's fingerprint: what determines its records (the judge's includes the retrieve's)."""
    fp_r = fingerprint("retrieve", STAGE_VERSIONS["retrieve"], task_name, kb.fingerprint(), retriever.identity())
    fp_j = fingerprint("judge", STAGE_VERSIONS["judge"], fp_r, critic_ident)
    fp_g = fingerprint("generate", STAGE_VERSIONS["generate"], generator.identity())
    return {"retrieve": fp_r, "judge": fp_j, "generate": fp_g}


def sample_files(sample: Sample, *components: Any) -> list[str]:
    """The files a sample's records depend on: its image, and what components say they read per sample.

    A component that reads other files per sample declares them with ``input_files(sample) -> list[str]``.
    """
    files = [sample.image] if sample.image else []
    for comp in components:
        more = getattr(comp, "input_files", None)
        if callable(more):
            files += [str(f) for f in more(sample) or ()]
    return files


def sample_check(sample: Sample, *components: Any) -> str:
    """What a cached record of this sample must match: question, image path *and content*, per-sample files."""
    return fingerprint(sample.id, sample.question, sample.image, digests(sample_files(sample, *components)))


def request_images(request: ChatRequest) -> list[str]:
    """The image paths a chat request shows the generator."""
    return [str(item.get("image")) for m in request.messages if isinstance(m.get("content"), list)
            for item in m["content"] if isinstance(item, dict) and item.get("type") == "image"]


def generation_check(request: ChatRequest, prompt_hash: str, sample: Sample, generator: Any = None) -> str:
    """A Generation is valid for this prompt and the current content of every file it depends on."""
    more = getattr(generator, "input_files", None)
    extra = [str(f) for f in more(sample) or ()] if callable(more) else []
    return fingerprint(prompt_hash, digests([*request_images(request), *extra]))


def pair_key(sample_id: str, index: int) -> str:
    """Judge-store key of one (sample, passage) pair, stored as its model batch finishes."""
    return f"{sample_id}#passage{index}"


def request_json(request: ChatRequest) -> dict[str, Any]:
    """``request.to_json()`` without ``asdict``'s deep copy (the same JSON, so the same prompt hash)."""
    return {"messages": request.messages, "assistant_prefix": request.assistant_prefix, "stop": request.stop,
            "max_new_tokens": request.max_new_tokens}


def generation_key(sample_id: str, prompt_hash: str) -> str:
    """Generate-store key: one record per (sample, prompt), so a threshold sweep keeps every prompt's output."""
    return f"{sample_id}#prompt{prompt_hash}"
