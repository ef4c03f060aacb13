"""The component protocols. Every call takes a batch.

A component is built by its registered factory as ``factory(runtime, **args)``, where
``args`` are the user's ``--<kind>-args`` (already typed) and ``runtime`` says where to
run. ``identity()`` returns what determines the component's output (name, arguments,
checkpoint identity): the stage cache is keyed on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from .records import ChatRequest, Passage, Retrieval, Sample


@dataclass
class Runtime:
    """Where and how components run; set by the runner, shared by all components."""

    device: str = "cpu"  # "cpu", "cuda", "cuda:1"
    dtype: str = "float32"  # "bfloat16" on GPU by default
    batch_size: int | str = 8  # or "auto"
    seed: int = 1234
    cache_dir: str = ""  # where tiny checkpoints and built indexes live
    extra: dict[str, Any] = field(default_factory=dict)


class Component:
    """Convenience base: keeps name and args and derives ``identity`` from them."""

    name: str = ""
    version: str = "1"  # bump when the component's code changes its output

    def __init__(self, runtime: Runtime, **args: Any) -> None:
        self.runtime = runtime
        self.args = dict(args)

    def identity(self) -> dict[str, Any]:
        """What determines this component's output; override to add checkpoint identity."""
        return {"name": self.name, "version": self.version, "args": self.args}


@runtime_checkable
class KnowledgeBase(Protocol):
    """Pages keyed by Wikipedia URL (or any string key), each with its passages."""

    def __contains__(self, key: object) -> bool: ...
    def __len__(self) -> int: ...
    def keys(self) -> Sequence[str]: ...
    def title(self, key: str) -> str: ...
    def passages(self, key: str) -> list[str]:
        """The page's passages (EVQA: sections; InfoSeek: 300-token sentence packs)."""
        ...
    def fingerprint(self) -> str: ...


@runtime_checkable
class Task(Protocol):
    """A benchmark: samples, a knowledge base, and its official scorer."""

    name: str
    headline_metric: str  # key into aggregate()'s metrics, e.g. "accuracy" or "final_score"
    default_components: Mapping[str, tuple[str, Mapping[str, Any]]]  # kind -> (name, args)

    def samples(self, split: str | None = None, limit: int | None = None) -> list[Sample]: ...
    def knowledge_base(self) -> KnowledgeBase: ...
    def component_args(self, kind: str, name: str) -> dict[str, Any]:
        """Default arguments this task gives a component (e.g. its index path)."""
        ...
    def score(self, samples: Sequence[Sample], predictions: Sequence[str | None]) -> list[dict[str, Any]]:
        """Per-sample metric dicts, in the order of ``samples``."""
        ...
    def aggregate(self, samples: Sequence[Sample], scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Task metrics from per-sample scores (must contain ``headline_metric``)."""
        ...
    def fingerprint(self) -> str: ...


@runtime_checkable
class Retriever(Protocol):
    name: str

    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]: ...
    def identity(self) -> dict[str, Any]: ...


@runtime_checkable
class Critic(Protocol):
    """Scores (sample, passage) pairs; ``threshold`` None means keep everything."""

    name: str
    threshold: float | None

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]],
              on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[float]:
        """P("Yes") per pair; ``on_batch(indices, values)`` after each model batch (for per-batch persistence)."""
        ...

    def identity(self) -> dict[str, Any]: ...


@runtime_checkable
class Generator(Protocol):
    name: str

    def generate(self, requests: Sequence[ChatRequest],
                 on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[str]:
        """Raw text per request; ``on_batch(indices, texts)`` after each model batch."""
        ...

    def identity(self) -> dict[str, Any]: ...


@runtime_checkable
class PromptStyle(Protocol):
    """Builds the generator's request and parses its output.

    ``passages`` is None when no retrieval was used, an empty list when the critic
    filtered everything.
    """

    name: str

    def build(self, sample: Sample, passages: Sequence[Passage] | None, task: str) -> ChatRequest: ...
    def parse(self, raw: str) -> tuple[str | None, str]:
        """(reasoning, answer) from the raw output."""
        ...
    def identity(self) -> dict[str, Any]: ...


COMPONENT_KINDS = ("task", "retriever", "critic", "generator", "prompt_style")
