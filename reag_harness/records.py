"""The records that flow between stages, one JSON line each.

Images travel as paths, never as pixels. Every record is keyed by ``sample_id``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from itertools import compress
from typing import Any, Mapping, Sequence, TypeVar

T = TypeVar("T", bound="Record")


class Record:
    """Mixin: JSON round-trip for frozen dataclasses (tuples become lists)."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls: type[T], data: Mapping[str, Any]) -> T:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Sample(Record):
    """One question of a task.

    ``meta`` holds what the task and the metric need beyond the basics, e.g.
    ``question_type``, ``split``, ``gold_pages`` (KB keys), ``evidence_section_id``.
    """

    id: str
    question: str
    image: str | None
    references: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sample:
        return cls(
            id=str(data["id"]),
            question=data["question"],
            image=data.get("image"),
            references=tuple(data.get("references", ())),
            meta=dict(data.get("meta", {})),
        )


@dataclass(frozen=True, eq=False)
class Passage(Record):
    """A passage of a knowledge-base page: ``index`` is its position in that page.

    Equal to any Passage (subclasses included) with the same page, index and text.
    """

    page_key: str
    index: int
    text: str

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Passage):
            return NotImplemented
        return (self.page_key, self.index, self.text) == (other.page_key, other.index, other.text)

    def __hash__(self) -> int:
        return hash((self.page_key, self.index, self.text))


@dataclass(frozen=True, eq=False)
class Retrieval(Record):
    """Ranked pages (de-duplicated, best score kept) and their passages, in order.

    ``raw_hits`` is the index's hit list before de-duplication; ``info`` records
    retriever-specific facts (e.g. the crop box or why no crop was made).
    ``used`` is False for the no-retrieval baseline (the prompt then has no context).
    Equal to any Retrieval (subclasses included) with the same fields.
    """

    sample_id: str
    pages: tuple[tuple[str, float], ...] = ()
    passages: tuple[Passage, ...] = ()
    raw_hits: tuple[tuple[str, float], ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)
    used: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Retrieval:
        return cls(
            sample_id=str(data["sample_id"]),
            pages=tuple((str(k), float(s)) for k, s in data.get("pages", ())),
            passages=tuple(Passage.from_json(p) for p in data.get("passages", ())),
            raw_hits=tuple((str(k), float(s)) for k, s in data.get("raw_hits", ())),
            info=dict(data.get("info", {})),
            used=bool(data.get("used", True)),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Retrieval):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in dataclasses.fields(Retrieval))

    __hash__ = None  # type: ignore[assignment]  # info is a dict: unhashable, as before


@dataclass(frozen=True)
class Judgement(Record):
    """The critic's P("Yes") for each passage of a Retrieval, in retrieval order.

    ``p_yes`` is None when no critic ran (every passage is kept). The threshold is
    applied when reading (:meth:`kept`), so a threshold sweep reuses stored values.
    """

    sample_id: str
    p_yes: tuple[float, ...] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Judgement:
        p = data.get("p_yes")
        return cls(sample_id=str(data["sample_id"]), p_yes=None if p is None else tuple(float(x) for x in p))

    def kept(self, n_passages: int, threshold: float | None, top_n: int | None = None) -> list[int]:
        """Indices of kept passages, in retrieval order.

        ``p_yes > threshold`` (strict) when a threshold is set, then the ``top_n`` highest of
        those when ``top_n`` is set (ties keep the earlier passage). Both rules are applied
        when reading, so sweeping either reuses the stored scores.
        """
        if self.p_yes is None or (threshold is None and top_n is None):
            return list(range(n_passages))
        if threshold is None:
            kept = list(range(len(self.p_yes)))
        elif type(threshold) is float and {*map(type, self.p_yes)} <= {float}:  # ~175 per question: compared in C
            kept = list(compress(range(len(self.p_yes)), map(threshold.__lt__, self.p_yes)))
        else:
            kept = [i for i, p in enumerate(self.p_yes) if p > threshold]
        if top_n is not None:
            best = sorted(kept, key=lambda i: (-self.p_yes[i], i))[: max(0, int(top_n))]  # type: ignore[index]
            kept = sorted(best)
        return kept


@dataclass(frozen=True)
class Generation(Record):
    """The generator's raw output and its parse. ``error`` is set instead of a fake answer."""

    sample_id: str
    prompt_hash: str
    raw: str | None
    reasoning: str | None
    answer: str | None
    error: str | None = None


@dataclass(frozen=True)
class Score(Record):
    """Per-sample metric values (e.g. ``{"correct": 1.0, "decided_by": "em"}``)."""

    sample_id: str
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatRequest(Record):
    """What a PromptStyle hands a Generator.

    ``messages`` follow the Hugging Face chat format; an image item is
    ``{"type": "image", "image": "/path.jpg"}``. ``assistant_prefix`` is text appended
    after the generation prompt (ReAG's forced ``<think>``); ``stop`` are stop strings.
    """

    messages: Sequence[Mapping[str, Any]]
    assistant_prefix: str = ""
    stop: tuple[str, ...] = ()
    max_new_tokens: int | None = None
