"""Batching helpers shared by model components: length-sorted batches and OOM back-off.

Pure Python: torch is only touched (to empty the CUDA cache) when it is already imported.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

AUTO_START = 64
"""The first batch size tried for ``batch_size="auto"`` unless a component says otherwise."""
OnBatch = Callable[[list[int], list[Any]], None]
"""``on_batch(indices, results)``: told after each model batch, so a caller can persist it (BRIEF contract 3)."""

CPU_BATCH_TOKENS = 16384
"""Default token budget of one model batch on CPU (a few GB of activations at most)."""
CUDA_TOKENS_PER_GIB = 1024
"""Default token budget on an accelerator: this many tokens per GiB of its memory (80 GiB -> 81,920)."""


def default_batch_tokens(device: str) -> int:
    """The token budget of one model batch when the user gives none (``max_batch_tokens=auto``).

    CPU: :data:`CPU_BATCH_TOKENS`. CUDA: :data:`CUDA_TOKENS_PER_GIB` per GiB of the device's
    memory (like vLLM's ``max_num_batched_tokens``, a bound on the positions one forward
    pass holds); with ``batch_size=auto`` an out-of-memory error still halves it.
    """
    if device.startswith("cuda"):
        torch = sys.modules.get("torch")
        if torch is None:
            import torch
        if torch.cuda.is_available():
            index = torch.device(device).index or 0
            total = torch.cuda.get_device_properties(index).total_memory
            return max(CPU_BATCH_TOKENS, int(total / 2**30 * CUDA_TOKENS_PER_GIB))
    return CPU_BATCH_TOKENS


def resolve_batch_tokens(value: int | str | None, device: str) -> int | None:
    """``max_batch_tokens`` as given by a user: ``"auto"`` the device default, ``"none"``/0 no bound."""
    if value is None or str(value).strip().lower() in ("none", "0", "off"):
        return None
    if str(value).strip().lower() == "auto":
        return default_batch_tokens(device)
    try:
        tokens = int(value)
    except (TypeError, ValueError):
        from reag_harness.core.errors import HarnessError

        raise HarnessError(f"max_batch_tokens={value!r}: use a positive integer, 'auto' or 'none'") from None
    return tokens if tokens > 0 else None


def is_oom_error(exc: BaseException) -> bool:
    """True for a CUDA (or other accelerator) out-of-memory error."""
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError / torch.cuda.OutOfMemoryError
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_accelerator_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_with_oom_backoff(
    fn: Callable[[list[T]], Sequence[R]],
    items: Sequence[T],
    batch_size: int,
    *,
    is_oom: Callable[[BaseException], bool] = is_oom_error,
    on_shrink: Callable[[int], None] | None = None,
    on_batch: OnBatch | None = None,
) -> list[R]:
    """``fn`` over consecutive batches of ``items``; results concatenated in input order.

    When a batch raises an out-of-memory error its size is halved and that batch is
    retried (later batches keep the smaller size; ``on_shrink`` is told the new size so a
    caller can start there next time). An OOM at batch size 1 is re-raised. ``fn`` must
    return one result per item. ``on_batch`` is called after each successful batch with the
    positions (in ``items``) of that batch and its results.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    results: list[R] = []
    start = 0
    while start < len(items):
        chunk = list(items[start : start + batch_size])
        out: list[R] | None = None
        try:
            out = list(fn(chunk))
        except Exception as exc:
            if not is_oom(exc) or batch_size == 1:
                raise
        if out is None:  # out of memory; outside the except block the failed batch's tensors are freed
            _free_accelerator_memory()
            batch_size = max(1, len(chunk) // 2)
            if on_shrink is not None:
                on_shrink(batch_size)
            continue
        if len(out) != len(chunk):
            raise RuntimeError(f"batch function returned {len(out)} results for {len(chunk)} items")
        results.extend(out)
        if on_batch is not None:
            on_batch(list(range(start, start + len(chunk))), list(out))
        start += len(chunk)
    return results


def token_bounded_sizes(lengths: Sequence[int], max_items: int, max_tokens: int | None,
                        fixed_tokens: int = 0) -> list[int]:
    """Sizes of consecutive batches over ``lengths`` (sorted longest first).

    A batch holds at most ``max_items`` items and at most ``max_tokens`` padded tokens:
    rows x (``fixed_tokens`` + its longest item), the positions it keeps in memory
    (``fixed_tokens`` is e.g. a shared cached prefix every row attends to). An item that is
    over the budget on its own runs alone. ``max_tokens=None`` bounds by count only.
    """
    sizes: list[int] = []
    start = 0
    while start < len(lengths):
        longest = fixed_tokens + int(lengths[start])
        rows = max_items if max_tokens is None else max(1, min(max_items, int(max_tokens) // max(1, longest)))
        rows = min(rows, len(lengths) - start)
        sizes.append(rows)
        start += rows
    return sizes


def sorted_batches(
    fn: Callable[[list[T]], Sequence[R]],
    items: Sequence[T],
    lengths: Sequence[int],
    batch_size: int | str,
    *,
    auto_start: int = AUTO_START,
    on_shrink: Callable[[int], None] | None = None,
    max_tokens: int | None = None,
    fixed_tokens: int = 0,
    on_batch: OnBatch | None = None,
) -> list[R]:
    """``fn`` over batches of items sorted by decreasing length; results in input order.

    Each batch holds at most ``batch_size`` items and at most ``max_tokens`` padded tokens
    (see :func:`token_bounded_sizes`). ``batch_size="auto"`` starts at ``auto_start`` and,
    on out-of-memory, halves the failed batch and the token budget and retries it (later
    batches keep the smaller bounds; ``on_shrink`` is told the new count). An int is used
    as given (an OOM is raised). ``on_batch(indices, results)`` is called after each batch
    with the indices of its items in ``items`` (not the sorted order), so a caller can
    persist work as it finishes.
    """
    order = sorted(range(len(items)), key=lambda i: -lengths[i])
    ordered_lengths = [int(lengths[i]) for i in order]
    auto = batch_size == "auto"
    cap = int(auto_start) if auto else int(batch_size)
    if cap < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    budget = None if max_tokens is None else int(max_tokens)
    results: list[Any] = [None] * len(items)
    start = 0
    while start < len(order):
        rows = token_bounded_sizes(ordered_lengths[start:], cap, budget, fixed_tokens)[0]
        chunk = [items[i] for i in order[start:start + rows]]
        out: list[R] | None = None
        try:
            out = list(fn(chunk))
        except Exception as exc:
            if not auto or not is_oom_error(exc) or rows == 1:
                raise
        if out is None:  # out of memory; outside the except block the failed batch's tensors are freed
            _free_accelerator_memory()
            cap = max(1, rows // 2)
            if budget is not None:
                budget = max(1, budget // 2)
            if on_shrink is not None:
                on_shrink(cap)
            continue
        if len(out) != len(chunk):
            raise RuntimeError(f"batch function returned {len(out)} results for {len(chunk)} items")
        for pos, value in zip(order[start:start + rows], out):
            results[pos] = value
        if on_batch is not None:
            on_batch(list(order[start:start + rows]), list(out))
        start += rows
    return results
