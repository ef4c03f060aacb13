"""What every stage shares: the run's context (components, errors, clocks), error isolation, batched calls."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

from ..core.config import RunConfig
from ..data.input_checks import image_culprit
from ..records import Generation, Judgement, Retrieval, Sample

T = TypeVar("T")
STAGES = ("retrieve", "judge", "generate", "score")


@dataclass
class StageClock:
    wall_s: float = 0.0
    computed: int = 0
    cached: int = 0
    items: int = 0


@dataclass
class RunContext:
    """What the stages of one run share: its configuration and components, and what they record."""

    config: RunConfig
    task: Any
    components: dict[str, Any]
    predict_only: bool = False
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)  # sample id -> (stage, message)
    clocks: dict[str, StageClock] = field(default_factory=lambda: {s: StageClock() for s in STAGES})
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)  # sample id -> retrieval gate decision
    passages_dropped: dict[str, int] = field(default_factory=dict)  # sample id -> kept passages left out
    generator_prompt_lengths: list[int] = field(default_factory=list)

    def isolating(self, stage: str, fn: Callable[[Sequence[Any]], list[T]], items: Sequence[Any],
                  sample_of: Callable[[Any], Sample]) -> list[T | None]:
        """Run ``fn`` on a batch; with ``--on-error skip`` find and record the failing items."""
        if not items:
            return []
        try:
            return list(fn(items))
        except Exception as exc:
            culprit = image_culprit(items, sample_of)  # an unreadable image, named by query file, line, id
            if self.config.on_error != "skip":
                if culprit is not None:
                    raise culprit from exc
                raise
            if len(items) == 1:
                sample = sample_of(items[0])
                self.errors[sample.id] = (stage, str(culprit) if culprit else f"{type(exc).__name__}: {exc}")
                return [None]
            return [r for item in items for r in self.isolating(stage, fn, [item], sample_of)]


@dataclass
class BatchState:
    """One chunk of samples and the records each stage adds, keyed by sample id."""

    batch: Sequence[Sample]
    retrievals: dict[str, Retrieval] = field(default_factory=dict)
    judgements: dict[str, Judgement] = field(default_factory=dict)
    generations: dict[str, Generation] = field(default_factory=dict)
    scores: list[dict[str, Any]] = field(default_factory=list)
    inline_texts: dict[str, frozenset[tuple[str, int]]] = field(default_factory=dict)  # texts not the KB's
    p_yes_texts: dict[str, list[str]] = field(default_factory=dict)  # stored p_yes as stored (their repr)
    selections: dict[str, Any] = field(default_factory=dict)  # sample id -> Selection (made once, by generate)


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i:i + size] for i in range(0, len(items), max(1, size))]


def accepts_on_batch(method: Callable[..., Any]) -> bool:
    """True when a critic's ``p_yes`` / generator's ``generate`` takes ``on_batch`` (BRIEF contract 3)."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "on_batch" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def call_persisting(method: Callable[..., Sequence[Any]], inputs: Sequence[Any], items: Sequence[T],
                    persist: Callable[[Sequence[T], Sequence[Any]], None]) -> list[Any]:
    """``method(inputs)``, handing each finished model batch to ``persist(items_of_batch, results)``.

    A component without ``on_batch`` is persisted once, when the whole call returns.
    """
    if accepts_on_batch(method):
        out = list(method(inputs, on_batch=lambda idx, res: persist([items[i] for i in idx], res)))
    else:
        out = list(method(inputs))
        persist(items, out)
    return out
