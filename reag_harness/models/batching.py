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
OnBatch = Callable[[list[int], list[Any]], None]
"""``on_batch(indices, results)``: told after each model batch, so a caller can persist it (BRIEF contract 3)."""
"""The first batch size tried for ``batch_size="auto"`` unless a component says otherwise."""


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


def sorted_batches(
    fn: Callable[[list[T]], Sequence[R]],
    items: Sequence[T],
    lengths: Sequence[int],
    batch_size: int | str,
    *,
    auto_start: int = AUTO_START,
    on_shrink: Callable[[int], None] | None = None,
    on_batch: OnBatch | None = None,
) -> list[R]:
    """``fn`` over batches of items sorted by decreasing length; results in input order.

    ``batch_size="auto"`` starts at ``auto_start`` and halves on out-of-memory; an int is
    used as given (an OOM is raised). ``on_batch(indices, results)`` is called after each
    batch with the indices of its items in ``items`` (not the sorted order).
    """
    order = sorted(range(len(items)), key=lambda i: -lengths[i])
    ordered = [items[i] for i in order]
    told = None if on_batch is None else (lambda pos, res: on_batch([order[p] for p in pos], res))
    if batch_size == "auto":
        out = run_with_oom_backoff(fn, ordered, int(auto_start), on_shrink=on_shrink, on_batch=told)
    else:
        bs = int(batch_size)
        out = run_with_oom_backoff(fn, ordered, bs, is_oom=lambda exc: False, on_batch=told)
    results: list[Any] = [None] * len(items)
    for pos, i in enumerate(order):
        results[i] = out[pos]
    return results
