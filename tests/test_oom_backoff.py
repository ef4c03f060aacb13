"""The out-of-memory back-off and the length-sorted batching shared by the model components."""

from __future__ import annotations

import pytest

from reag_harness.models.batching import is_oom_error, run_with_oom_backoff, sorted_batches


class FakeOOM(Exception):
    """Stands in for an accelerator's out-of-memory error."""


def fits_at_most(limit: int, seen: list[int], error: type[Exception] = FakeOOM):
    """A batch function that fails on batches larger than ``limit`` and records every attempt."""

    def fn(batch: list[int]) -> list[int]:
        seen.append(len(batch))
        if len(batch) > limit:
            raise error("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in batch]

    return fn


def test_halves_on_oom_and_returns_everything_in_order() -> None:
    seen: list[int] = []
    shrunk: list[int] = []
    items = list(range(11))
    out = run_with_oom_backoff(fits_at_most(2, seen), items, 8, is_oom=lambda e: isinstance(e, FakeOOM),
                               on_shrink=shrunk.append)
    assert out == [x * 10 for x in items]
    assert seen == [8, 4, 2, 2, 2, 2, 2, 1]  # later batches keep the size that fitted
    assert shrunk == [4, 2]


def test_default_detection_knows_torch_and_message_ooms() -> None:
    torch = pytest.importorskip("torch")
    assert is_oom_error(torch.OutOfMemoryError("CUDA out of memory."))
    assert is_oom_error(RuntimeError("CUDA error: out of memory"))
    assert not is_oom_error(RuntimeError("shape mismatch"))
    assert not is_oom_error(ValueError("out of memory"))
    seen: list[int] = []
    out = run_with_oom_backoff(fits_at_most(3, seen, torch.OutOfMemoryError), list(range(7)), 16)
    assert out == [x * 10 for x in range(7)] and seen == [7, 3, 3, 1]


def test_oom_at_batch_one_and_other_errors_are_raised() -> None:
    seen: list[int] = []
    with pytest.raises(FakeOOM):
        run_with_oom_backoff(fits_at_most(0, seen), [1, 2, 3], 4, is_oom=lambda e: isinstance(e, FakeOOM))
    assert seen == [3, 1]  # halved from the size of the failing batch

    calls: list[int] = []

    def broken(batch: list[int]) -> list[int]:
        calls.append(len(batch))
        raise KeyError("not memory")

    with pytest.raises(KeyError):
        run_with_oom_backoff(broken, [1, 2, 3], 4)
    assert calls == [3]  # no retry
    with pytest.raises(RuntimeError, match="2 results for 3 items"):
        run_with_oom_backoff(lambda b: b[:2], [1, 2, 3], 4)
    with pytest.raises(ValueError):
        run_with_oom_backoff(lambda b: b, [1], 0)
    assert run_with_oom_backoff(lambda b: b, [], 4) == []


def test_sorted_batches_run_longest_first_and_restore_input_order() -> None:
    items = ["bb", "a", "dddd", "ccc", "eeeee"]
    batches: list[list[str]] = []

    def upper(batch: list[str]) -> list[str]:
        batches.append(batch)
        return [s.upper() for s in batch]

    out = sorted_batches(upper, items, [len(s) for s in items], 2)
    assert out == [s.upper() for s in items]
    assert batches == [["eeeee", "dddd"], ["ccc", "bb"], ["a"]]


def test_sorted_batches_auto_backs_off_but_a_fixed_size_does_not() -> None:
    torch = pytest.importorskip("torch")
    items = list(range(9))
    seen: list[int] = []
    shrunk: list[int] = []
    out = sorted_batches(fits_at_most(2, seen, torch.OutOfMemoryError), items, items, "auto", auto_start=8,
                         on_shrink=shrunk.append)
    assert out == [x * 10 for x in items] and seen[:3] == [8, 4, 2] and shrunk == [4, 2]
    with pytest.raises(torch.OutOfMemoryError):
        sorted_batches(fits_at_most(2, [], torch.OutOfMemoryError), items, items, 4)


def test_batches_are_bounded_by_a_token_budget() -> None:
    from reag_harness.models.batching import token_bounded_sizes

    assert token_bounded_sizes([1000, 900, 500, 100, 100], 8, 2000) == [2, 3]
    assert token_bounded_sizes([5000, 10], 8, 1000) == [1, 1]  # over the budget alone: runs alone
    assert token_bounded_sizes([100, 100, 100], 8, 1000, fixed_tokens=400) == [2, 1]  # shared prefix counted
    assert token_bounded_sizes([10] * 5, 2, None) == [2, 2, 1]


def test_sorted_batches_respect_tokens_and_report_each_batch() -> None:
    items = ["x" * n for n in (50, 300, 120, 80, 300, 10)]
    batches: list[list[str]] = []
    reported: list[tuple[list[int], list[int]]] = []

    def fn(batch: list[str]) -> list[int]:
        batches.append(batch)
        return [len(s) for s in batch]

    out = sorted_batches(fn, items, [len(s) for s in items], 8, max_tokens=600,
                         on_batch=lambda b, r: reported.append((b, r)))
    assert out == [len(s) for s in items]
    assert all(len(b) * max(len(s) for s in b) <= 600 for b in batches)
    assert [len(b) for b in batches] == [2, 4]
    assert [[items[i] for i in idx] for idx, _ in reported] == batches  # indices into items, batch by batch
    assert [res for _, res in reported] == [[len(s) for s in b] for b in batches]


def test_auto_halves_the_token_budget_on_oom() -> None:
    torch = pytest.importorskip("torch")
    seen: list[int] = []

    def fn(batch: list[int]) -> list[int]:
        seen.append(len(batch))
        if len(batch) * max(batch) > 250:  # "memory" holds 250 padded tokens
            raise torch.OutOfMemoryError("CUDA out of memory.")
        return batch

    items = [100] * 6
    assert sorted_batches(fn, items, items, "auto", auto_start=8, max_tokens=1000) == items
    assert seen == [6, 3, 1, 1, 1, 1, 1, 1]  # 6 rows, then 3 (budget 500), then 1 (budget 250)
