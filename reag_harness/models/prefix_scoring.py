"""Score many prompts that share a prefix: the prefix once, the suffixes batched against its KV cache.

A critic scores ~130 passages per query with one chat each, and everything before the
passage (system prompt, image, question) is the same for all of them. Instead of running
each full sequence, :class:`SharedPrefixScorer`

1. groups the requests by (prefix text, images) and, per group, runs the vision tower and
   the prefix **once** (``use_cache=True``), keeping its KV cache (batch 1);
2. scores the group's suffixes (the rest of each prompt: passage, tail, generation prompt)
   in batches against that cache, expanded across the batch (a view: no copy of the
   prefix), right-padded with an attention mask;
3. takes the logits at each suffix's last real token (final hidden state -> output
   embeddings, float32 softmax over the full vocabulary) and returns the probability of
   one token (e.g. "Yes").

Exactness: the token ids are those of the full prompt (tokenized as the per-pair path
does) split at the prefix's length; a request whose tokens do not start with the prefix's
(a merge across the boundary, e.g. a passage starting with a newline) or a group the
model cannot share (a cache layer that is not a plain dynamic layer) goes to the caller's
per-pair ``fallback``, never to an approximation. Positions continue exactly from the
prefix: for multimodal RoPE (Qwen2-VL / Qwen2.5-VL) the prefix's 3-D positions come from
the model's own ``get_rope_index`` and every suffix token ``j`` sits at ``max + 1 + j`` on all
three axes (text after the image, as ``get_rope_index`` places it); for other models at
``prefix_length + j``. Right padding needs no special care: padded positions come after
every real token, so causal attention never lets a real token see them.

Written against a generic Hugging Face model (``model.model`` the backbone returning
``last_hidden_state`` and a cache, ``model.get_output_embeddings()`` the LM head) and
processor, so any image-text-to-text family whose backbone takes ``position_ids`` and a
``DynamicCache`` can use it; :func:`shares_prefix` lists the families tested equal to the
per-pair path (the critic scores the others per pair and says so in the run's deviations).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reag_harness.models.batching import sorted_batches


@dataclass(frozen=True)
class PrefixRequest:
    """One prompt to score: its full rendered text, its images, and the part of ``text`` it
    shares with other requests (``text`` must start with ``prefix``; all images lie in it)."""

    text: str
    images: tuple[str, ...]
    prefix: str


SHARED_PREFIX_FAMILIES = ("qwen2_vl", "qwen2_5_vl")
"""``config.model_type`` values whose shared-prefix scores are tested equal to per-pair scores."""


def shares_prefix(model: Any) -> bool:
    """True when the model's family is one of :data:`SHARED_PREFIX_FAMILIES` (others: score per pair).

    A family joins the list once a test shows its scores equal per-pair scores: some
    families attend bidirectionally within images or compute positions in ways this module
    does not reproduce, and a silent difference is worse than a slow run.
    """
    return getattr(getattr(model, "config", None), "model_type", None) in SHARED_PREFIX_FAMILIES


class PrefixUnsupported(Exception):
    """The model's cache cannot be shared this way (the group is scored per pair instead)."""


def split_at_prefix(tokenizer: Any, prefix: str, texts: Sequence[str]) -> tuple[list[int], list[list[int] | None]]:
    """``(prefix_ids, suffix ids per text)``: a text's suffix is its token ids after the
    prefix's, or None when its ids do not start with the prefix's ids (or nothing follows)."""
    prefix_ids = list(tokenizer(prefix)["input_ids"])
    n = len(prefix_ids)
    suffixes: list[list[int] | None] = []
    for ids in tokenizer(list(texts))["input_ids"]:
        ids = list(ids)
        suffixes.append(ids[n:] if len(ids) > n and ids[:n] == prefix_ids else None)
    return prefix_ids, suffixes


def _cache_kwarg(backbone: Any) -> str:
    """The backbone's name for the KV cache argument (``cache`` in transformers 5, else ``past_key_values``)."""
    params = inspect.signature(backbone.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _output_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def prefix_positions(backbone: Any, inputs: Any) -> Any:
    """The prefix's multimodal RoPE positions ``(3, 1, L)`` from the model's own ``get_rope_index``
    (Qwen2-VL family, prefix with an image), or None (the model's default 1-D positions)."""
    if not hasattr(backbone, "get_rope_index") or inputs.get("image_grid_thw") is None:
        return None
    params = inspect.signature(backbone.get_rope_index).parameters
    kwargs = {k: inputs[k] for k in ("mm_token_type_ids", "image_grid_thw", "attention_mask")
              if k in params and inputs.get(k) is not None}
    positions, _ = backbone.get_rope_index(inputs["input_ids"], **kwargs)
    return positions


def expand_cache(cache: Any, rows: int) -> Any:
    """A new cache whose layers view the (batch-1) prefix cache ``rows`` times.

    Only plain dynamic layers qualify: their ``update`` concatenates (the prefix tensors are
    never written), so the prefix cache stays valid for the next batch.
    """
    new = copy.copy(cache)
    layers = []
    for layer in cache.layers:
        if type(layer).__name__ != "DynamicLayer" or layer.keys is None:
            raise PrefixUnsupported(f"cache layer {type(layer).__name__} cannot be shared across a batch")
        clone = copy.copy(layer)
        clone.keys = layer.keys.expand(rows, -1, -1, -1)
        clone.values = layer.values.expand(rows, -1, -1, -1)
        layers.append(clone)
    new.layers = layers
    return new


def _softcap(model: Any) -> float | None:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return getattr(config, "final_logit_softcapping", None)


class SharedPrefixScorer:
    """P(``target_id``) at the end of each prompt, sharing each group's prefix computation.

    ``encode_prefix(text, images)`` returns the processor inputs of one prompt (batch 1,
    on the model's device); ``fallback(indices)`` scores requests per pair (used for those
    that cannot share). Batches hold at most ``batch_size`` suffixes and at most
    ``max_batch_tokens`` positions (rows x (prefix + longest suffix)); ``"auto"`` halves both
    on out-of-memory.
    """

    def __init__(self, model: Any, tokenizer: Any, encode_prefix: Callable[[str, tuple[str, ...]], Any],
                 target_id: int, *, batch_size: int | str, max_batch_tokens: int | None,
                 auto_start: int = 64, on_shrink: Callable[[int], None] | None = None,
                 image_token_id: int | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.encode_prefix = encode_prefix
        self.target_id = int(target_id)
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.auto_start = auto_start
        self.on_shrink = on_shrink
        self.image_token_id = image_token_id
        self.lengths: dict[int, int] = {}
        """Prompt length (prefix + suffix tokens, images expanded) of each request scored shared."""
        self.stats = {"groups": 0, "shared": 0, "fallback": 0}

    def score(self, requests: Sequence[PrefixRequest], fallback: Callable[[list[int]], list[float]],
              on_batch: Callable[[list[int], list[float]], None] | None = None) -> list[float]:
        """P(target) per request, in input order; ``on_batch(indices, values)`` after each model batch."""
        out: list[float | None] = [None] * len(requests)
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        leftover: list[int] = []
        for i, r in enumerate(requests):
            if r.text.startswith(r.prefix) and r.prefix:
                groups.setdefault((r.prefix, tuple(r.images)), []).append(i)
            else:
                leftover.append(i)
        for (prefix, images), idx in groups.items():
            done = self._score_group(prefix, images, idx, requests, out, on_batch)
            leftover += [i for i in idx if i not in done]
        if leftover:
            leftover.sort()
            self.stats["fallback"] += len(leftover)
            for i, value in zip(leftover, fallback(leftover)):
                out[i] = value
        return [float(v) for v in out]  # type: ignore[arg-type]

    def _score_group(self, prefix: str, images: tuple[str, ...], idx: list[int], requests: Sequence[PrefixRequest],
                     out: list[float | None], on_batch: Callable[[list[int], list[float]], None] | None) -> set[int]:
        import torch

        prefix_ids, suffixes = split_at_prefix(self.tokenizer, prefix, [requests[i].text for i in idx])
        ok = [(i, s) for i, s in zip(idx, suffixes) if s is not None]
        if not ok:
            return set()
        inputs = self.encode_prefix(prefix, images)
        expanded = [int(t) for t in inputs["input_ids"][0]]
        if self.image_token_id is not None:  # the processor only expands image placeholders
            same = [t for t in expanded if t != self.image_token_id] == [
                t for t in prefix_ids if t != self.image_token_id]
        else:
            same = expanded == prefix_ids
        if not same:
            return set()
        backbone = self.model.model
        cache_arg = _cache_kwarg(backbone)
        length = len(expanded)
        try:
            with torch.inference_mode():
                positions = prefix_positions(backbone, inputs)
                kwargs = dict(inputs)
                if positions is not None:
                    kwargs["position_ids"] = positions
                prefix_out = backbone(**kwargs, use_cache=True)
                cache = _output_cache(prefix_out)
                del prefix_out
                next_pos = int(positions.max()) + 1 if positions is not None else length
                expand_cache(cache, 1)  # fail early (before any batch) when layers cannot be shared
        except PrefixUnsupported:
            return set()
        self.stats["groups"] += 1
        mrope = positions is not None
        lm_head = self.model.get_output_embeddings()
        softcap = _softcap(self.model)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        suffix_of = dict(ok)

        def run(batch: list[int]) -> list[float]:
            rows = [suffix_of[i] for i in batch]
            width = max(len(s) for s in rows)
            device = self.model.device
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
            mask = torch.zeros((len(rows), length + width), dtype=torch.long, device=device)
            mask[:, :length] = 1
            for r, s in enumerate(rows):
                ids[r, :len(s)] = torch.tensor(s, dtype=torch.long, device=device)
                mask[r, length:length + len(s)] = 1
            pos = next_pos + torch.arange(width, device=device).view(1, -1).expand(len(rows), -1)
            if mrope:
                pos = pos.unsqueeze(0).expand(3, -1, -1)
            with torch.inference_mode():
                hidden = backbone(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                                  **{cache_arg: expand_cache(cache, len(rows))}).last_hidden_state
                last = torch.tensor([len(s) - 1 for s in rows], device=device)
                logits = lm_head(hidden[torch.arange(len(rows), device=device), last]).float()
                if softcap:
                    logits = torch.tanh(logits / softcap) * softcap
                probs = torch.softmax(logits, dim=-1)[:, self.target_id]
            return [float(x) for x in probs.cpu()]

        order = [i for i, _ in ok]

        def persist(positions: list[int], values: list[float]) -> None:
            batch = [order[p] for p in positions]
            for i, v in zip(batch, values):
                out[i] = v
            if on_batch is not None:
                on_batch(batch, list(values))

        sorted_batches(run, order, [len(suffix_of[i]) for i in order], self.batch_size, auto_start=self.auto_start,
                       on_shrink=self.on_shrink, max_tokens=self.max_batch_tokens, fixed_tokens=length,
                       on_batch=persist)
        for i in order:
            self.lengths[i] = length + len(suffix_of[i])
        self.stats["shared"] += len(order)
        return set(order)
