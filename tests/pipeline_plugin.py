"""A small in-process plugin for runner tests: lexical components with call counters.

Registered the way an installed plugin is (``register_plugin``), so it also exercises
the hook plumbing. The components are deterministic and cheap; the model-backed ones are
tested with tiny checkpoints elsewhere.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from typing import Any, Callable, Sequence

from reag_harness.hookspecs import hookimpl
from reag_harness.interfaces import Component
from reag_harness.records import ChatRequest, Passage, Retrieval, Sample

CALLS: Counter[str] = Counter()
BATCH = 8  # model-batch size of the critic and the generator (each batch is reported through on_batch)
CRITIC_DELAY = float(os.environ.get("REAG_TEST_CRITIC_DELAY", "0"))  # seconds per critic batch (kill tests)
OnBatch = Callable[[list[int], list[Any]], None]


def in_batches(items: Sequence[Any], fn: Callable[[Sequence[Any]], list[Any]], on_batch: OnBatch | None,
               delay: float = 0.0) -> list[Any]:
    """``fn`` per batch of ``BATCH`` items, telling ``on_batch`` after each (as a model component does)."""
    out: list[Any] = []
    for start in range(0, len(items), BATCH):
        if delay:
            time.sleep(delay)
        values = fn(items[start:start + BATCH])
        if on_batch is not None:
            on_batch(list(range(start, start + len(values))), values)
        out += values
    return out


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class TitleRetriever(Component):
    """Ranks pages by word overlap between the image file name and the page title."""

    def retrieve(self, samples: Sequence[Sample], kb) -> list[Retrieval]:
        CALLS["retrieve"] += len(samples)
        top_k = int(self.args.get("top_k", 3))
        out = []
        for s in samples:
            if self.args.get("fail_on") and self.args["fail_on"] in s.id:
                raise ValueError(f"cannot retrieve for {s.id}")
            stem = words((s.image or "").rsplit("/", 1)[-1].replace("_", " ").removesuffix(".png"))
            ranked = sorted(kb.keys(), key=lambda k: (-len(stem & words(kb.title(k))), k))[:top_k]
            pages = tuple((k, float(len(stem & words(kb.title(k))))) for k in ranked)
            passages = tuple(Passage(k, i, t) for k, _ in pages for i, t in enumerate(kb.passages(k)))
            out.append(Retrieval(s.id, pages, passages, raw_hits=pages))
        return out


class OverlapCritic(Component):
    """P(yes) = share of question words found in the passage."""

    def __init__(self, runtime, threshold: float = 0.2, **args) -> None:
        super().__init__(runtime, threshold=threshold, **args)
        self.threshold = threshold

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]], on_batch: OnBatch | None = None) -> list[float]:
        return in_batches(pairs, self._batch, on_batch, CRITIC_DELAY)

    @staticmethod
    def _batch(pairs: Sequence[tuple[Sample, Passage]]) -> list[float]:
        CALLS["judge"] += len(pairs)
        return [len(words(s.question) & words(p.text)) / max(1, len(words(s.question))) for s, p in pairs]


class FirstNumberGenerator(Component):
    """Answers with the first number (or capitalised word) of the context."""

    def generate(self, requests: Sequence[ChatRequest], on_batch: OnBatch | None = None) -> list[str]:
        return in_batches(requests, self._batch, on_batch)

    @staticmethod
    def _batch(requests: Sequence[ChatRequest]) -> list[str]:
        CALLS["generate"] += len(requests)
        out = []
        for r in requests:
            text = " ".join(c["text"] for m in r.messages for c in m["content"] if c.get("type") == "text")
            context = text.split("Context:", 1)[-1]
            found = re.findall(r"\b\d{3,4}\b", context)
            out.append(f"<answer>{found[0] if found else 'unknown'}</answer>")
        return out


class ContextPrompt(Component):
    def build(self, sample: Sample, passages, task: str) -> ChatRequest:
        context = "" if passages is None else " ".join(p.text for p in passages)
        text = f"{sample.question} Context: {context}"
        content = [{"type": "image", "image": sample.image}, {"type": "text", "text": text}]
        return ChatRequest(messages=[{"role": "user", "content": content}])

    def parse(self, raw: str):
        m = re.search(r"<answer>(.*?)</answer>", raw, re.S)
        return None, (m.group(1) if m else raw).strip()


@hookimpl
def register_retrievers(register):
    register("test-title", TitleRetriever)


@hookimpl
def register_critics(register):
    register("test-overlap", OverlapCritic)


@hookimpl
def register_generators(register):
    register("test-first-number", FirstNumberGenerator)


@hookimpl
def register_prompt_styles(register):
    register("test-context", ContextPrompt)
