"""Components that cost (almost) nothing, to measure the harness itself: for benchmarks and tests only.

Not registered by default: ``register_plugin(reag_harness.plugins.zero_cost, "zero-cost")`` offers them
(``benchmarks/bench_scale.py`` and the memory regression test do). What runs is then the harness's
own bookkeeping: stage stores, sample logs, scoring, results.

- task ``zero-cost-synth``: ``questions`` synthetic EVQA-style questions over ``pages`` synthetic
  pages (``sections`` passages each on average, ~60 words per passage, made on demand from a word
  pool, never held whole); one shared query image.
- retriever ``zero-cost-pages``: ``top_k`` pages per question from a hash of its id, every passage
  of each page (20 pages x 8.75 = ~175 passages per question by default).
- critic ``zero-cost-critic``: P(yes) from a CRC of question and passage, in model batches of
  ``batch`` reported through ``on_batch``; generator ``zero-cost-generator``: one word.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..hookspecs import hookimpl
from ..interfaces import Component, Runtime
from ..records import ChatRequest, Passage, Retrieval, Sample

_WORDS = ("the of and in to a is was for on as by with from that at its which it an are were be this has "
          "species city river built century church museum tower bridge known family genus named located "
          "first population found north south east west island mountain lake capital region national park").split()
OnBatch = Callable[[list[int], list[Any]], None]


def _pool() -> str:
    words, state = [], 12345
    for _ in range(60_000):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        words.append(_WORDS[state % len(_WORDS)])
    return " ".join(words)


class SynthKB:
    """``pages`` synthetic pages; page ``i`` has ``1 + (i * 7) % (2 * sections - 1)`` passages (mean ``sections``)."""

    def __init__(self, pages: int, sections: float) -> None:
        self.n, self.sections = int(pages), float(sections)
        self.pool = _pool()
        self._keys = [f"https://en.wikipedia.org/wiki/Synthetic_page_{i}" for i in range(self.n)]
        self._row = {k: i for i, k in enumerate(self._keys)}
        self._page = functools.lru_cache(maxsize=256)(self._make_page)

    def __contains__(self, key: object) -> bool:
        return key in self._row

    def __len__(self) -> int:
        return self.n

    def keys(self) -> Sequence[str]:
        return self._keys

    def title(self, key: str) -> str:
        return f"Synthetic page {self._row[key]}"

    def passages(self, key: str) -> list[str]:
        """A page's passages (the last 256 pages asked for are kept, as a KB's page cache would)."""
        return list(self._page(key))

    def passage(self, key: str, index: int) -> str:
        """``passages(key)[index]``, made alone."""
        i = self._row[key]
        return self._text(i, range(self._count(i))[index])  # IndexError as the list gives

    def _make_page(self, key: str) -> tuple[str, ...]:
        i = self._row[key]
        return tuple(self._text(i, j) for j in range(self._count(i)))

    def _count(self, i: int) -> int:
        return 1 + (i * 7) % max(1, int(2 * self.sections - 1))

    def _text(self, i: int, j: int) -> str:
        start = (i * 7919 + j * 104729) % (len(self.pool) - 400)
        text = self.pool[start:start + 300 + (i + j) % 100]
        return f"Section 0 of page {i}. {text}" if j == 0 else text

    def fingerprint(self) -> str:
        return hashlib.sha256(f"zero-cost-synth-kb:{self.n}:{self.sections}:v1".encode()).hexdigest()[:16]


class SynthTask:
    """``questions`` questions, answers ``"page<i>"``, gold page i, over a :class:`SynthKB`."""

    name = "zero-cost-synth"
    headline_metric = "accuracy"
    default_components: Mapping[str, tuple[str, Mapping[str, Any]]] = {
        "retriever": ("zero-cost-pages", {"top_k": 20}),
        "critic": ("zero-cost-critic", {"threshold": 0.9}),
        "generator": ("zero-cost-generator", {}),
        "prompt_style": ("direct", {}),
    }

    def __init__(self, runtime: Runtime | None = None, questions: int = 1000, pages: int = 20000,
                 sections: float = 8.75, image: str | None = None) -> None:
        self.runtime = runtime or Runtime()
        self.n, self.pages, self.sections = int(questions), int(pages), float(sections)
        self.image = image
        self._kb: SynthKB | None = None

    def knowledge_base(self) -> SynthKB:
        if self._kb is None:
            self._kb = SynthKB(self.pages, self.sections)
        return self._kb

    def samples(self, split: str | None = None, limit: int | None = None) -> list[Sample]:
        kb = self.knowledge_base()
        n = min(self.n, limit) if limit else self.n
        return [Sample(id=f"q{i:06d}", question=f"What is shown in picture {i}?", image=self.image,
                       references=(f"page{i % kb.n}",),
                       meta={"gold_pages": [kb.keys()[i % kb.n]], "evidence_section_id": 0,
                             "question_type": "templated"})
                for i in range(n)]

    def component_args(self, kind: str, name: str) -> dict[str, Any]:
        return {}

    def score(self, samples: Sequence[Sample], predictions: Sequence[str | None]) -> list[dict[str, Any]]:
        return [{"correct": int(p is not None and p.strip().lower() in {r.lower() for r in s.references})}
                for s, p in zip(samples, predictions)]

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        n = len(scores)
        return {"accuracy": round(100 * sum(s["correct"] for s in scores) / n, 2) if n else 0.0, "n": n}

    def fingerprint(self) -> str:
        return hashlib.sha256(f"zero-cost-synth:{self.n}:{self.pages}:{self.sections}".encode()).hexdigest()[:16]


class HashPages(Component):
    """``top_k`` pages from a hash of the sample id (the gold page first for even ids), all their passages."""

    def retrieve(self, samples: Sequence[Sample], kb: Any) -> list[Retrieval]:
        top_k = int(self.args.get("top_k", 20))
        out = []
        for s in samples:
            h = zlib.crc32(s.id.encode())
            keys = [kb.keys()[(h + 7 * j) % len(kb)] for j in range(top_k)]
            gold = s.meta.get("gold_pages") or []
            if gold and h % 2 == 0:
                keys = [gold[0]] + [k for k in keys if k != gold[0]][: top_k - 1]
            pages = tuple((k, 1.0 - j / top_k) for j, k in enumerate(keys))
            passages = tuple(Passage(k, i, t) for k, _ in pages for i, t in enumerate(kb.passages(k)))
            out.append(Retrieval(s.id, pages, passages, raw_hits=pages))
        return out


class CrcCritic(Component):
    """P(yes) = CRC32(question, page, index) / 2^32, model batches of ``batch`` pairs."""

    def __init__(self, runtime: Runtime, threshold: float = 0.9, batch: int = 64, **args: Any) -> None:
        super().__init__(runtime, threshold=threshold, batch=batch, **args)
        self.threshold = threshold
        self.batch = int(batch)

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]], on_batch: OnBatch | None = None) -> list[float]:
        out: list[float] = []
        for start in range(0, len(pairs), self.batch):
            values = [zlib.crc32(f"{s.id}|{p.page_key}|{p.index}".encode()) / 4294967296.0
                      for s, p in pairs[start:start + self.batch]]
            if on_batch is not None:
                on_batch(list(range(start, start + len(values))), values)
            out += values
        return out


class OneWordGenerator(Component):
    """Answers ``page<n>`` from the first ``page <n>`` in the prompt, else ``unknown``."""

    def generate(self, requests: Sequence[ChatRequest], on_batch: OnBatch | None = None) -> list[str]:
        out = []
        for r in requests:
            text = next((c.get("text", "") for m in r.messages if isinstance(m.get("content"), list)
                         for c in m["content"] if c.get("type") == "text"), "")
            at = text.find("of page ")
            out.append(f"page{text[at + 8:].split('.', 1)[0]}" if at >= 0 else "unknown")
        if on_batch is not None:
            on_batch(list(range(len(out))), out)
        return out


def write_image(folder: str | Path) -> str:
    """The one small query image every synthetic question shows."""
    from PIL import Image

    path = Path(folder) / "zero-cost-query.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (120, 60, 30)).save(path)
    return str(path)


@hookimpl
def register_tasks(register):  # type: ignore[no-untyped-def]
    register("zero-cost-synth", SynthTask)


@hookimpl
def register_retrievers(register):  # type: ignore[no-untyped-def]
    register("zero-cost-pages", HashPages)


@hookimpl
def register_critics(register):  # type: ignore[no-untyped-def]
    register("zero-cost-critic", CrcCritic)


@hookimpl
def register_generators(register):  # type: ignore[no-untyped-def]
    register("zero-cost-generator", OneWordGenerator)
