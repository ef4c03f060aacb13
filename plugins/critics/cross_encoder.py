"""``cross-encoder``: a sentence-transformers ``CrossEncoder`` reranker as a critic with a ``top_n`` rule.

Each (question, passage) pair gets the cross-encoder's relevance logit through a sigmoid (one-logit
rerankers such as ``cross-encoder/ms-marco-MiniLM-L6-v2`` or ``BAAI/bge-reranker-v2-m3``), stored as
the Judgement's ``p_yes``. Selection happens when reading:
``top_n`` keeps the n best passages of each question (in retrieval order), ``threshold`` (optional)
keeps those above it; neither is in the cache key, so sweeping them recomputes nothing.
EchoSight reranks sections with ``bge-reranker-v2-m3`` this way.

Arguments: ``model`` (local folder or a hub id in the local cache), ``top_n`` (5), ``threshold``
(None), ``batch_size``, ``max_length``, ``query`` (``question`` or ``question+caption``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Component, Runtime
from reag_harness.models.clip_encoders import checkpoint_identity
from reag_harness.records import Passage, Sample

_MODELS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


class CrossEncoderCritic(Component):
    """Relevance of each passage to its question from a cross-encoder; a reranker through ``top_n``."""

    name = "cross-encoder"
    version = "1"

    def __init__(self, runtime: Runtime, model: str = "cross-encoder/ms-marco-MiniLM-L6-v2", top_n: int | None = 5,
                 threshold: float | None = None, batch_size: int | None = None, max_length: int | None = None,
                 query: str = "question") -> None:
        super().__init__(runtime, model=model, top_n=top_n, threshold=threshold, batch_size=batch_size,
                         max_length=max_length, query=query)
        if top_n is None and threshold is None:
            raise HarnessError("critic cross-encoder: set top_n (a reranker) or threshold, else it selects nothing")
        if query not in ("question", "question+caption"):
            raise HarnessError(f"critic cross-encoder: query={query!r}: use question or question+caption")
        self.model_name = model
        self.source = str(Path(model).expanduser()) if Path(model).expanduser().exists() else model
        self.top_n = None if top_n is None else int(top_n)
        self.threshold = None if threshold is None else float(threshold)
        rb = runtime.batch_size
        self.batch_size = int(batch_size or (rb if isinstance(rb, int) else 32))
        self.max_length, self.query = max_length, query

    def preflight(self) -> list[str]:
        """Its checkpoint (folder or cache entry offline, config, weights against the config's model)."""
        from reag_harness.models.checkpoint_check import checkpoint_problems

        return checkpoint_problems(self.source, "sequence-classification", trust_remote_code=False)

    def identity(self) -> dict[str, Any]:
        args = {k: v for k, v in self.args.items() if k != "batch_size"}
        return {"name": self.name, "version": self.version, "args": args,
                "checkpoint": checkpoint_identity(self.source)}

    def model(self) -> Any:
        key = (self.source, self.runtime.device, self.max_length)
        with _LOCK:
            model = _MODELS.get(key)
            if model is None:
                from sentence_transformers import CrossEncoder

                from reag_harness.models.strict_load import strict_transformers

                try:  # missing / unexpected / mismatched weights: an error naming the keys
                    with strict_transformers("critic cross-encoder"):
                        model = CrossEncoder(self.source, device=self.runtime.device, max_length=self.max_length)
                except OSError as exc:
                    raise HarnessError(f"critic cross-encoder: cannot load {self.source!r} (a local folder, or a hub "
                                       f"id in the local cache): {exc}") from exc
                labels = getattr(getattr(model, "config", None), "num_labels", 1)
                if labels != 1:
                    raise HarnessError(f"critic cross-encoder: {self.source!r} has {labels} labels; a reranker with "
                                       "one relevance logit is needed")
                _MODELS[key] = model
        return model

    def _query(self, sample: Sample) -> str:
        caption = sample.meta.get("caption") if self.query == "question+caption" else None
        return f"{sample.question} {caption}" if isinstance(caption, str) and caption else sample.question

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]],
              on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[float]:
        """Scores in (0, 1), input order; ``on_batch(indices, scores)`` after each model batch."""
        if not pairs:
            return []
        import torch

        model = self.model()
        out: list[float] = [0.0] * len(pairs)
        for start in range(0, len(pairs), self.batch_size):
            idx = list(range(start, min(start + self.batch_size, len(pairs))))
            inputs = [(self._query(pairs[i][0]), pairs[i][1].text) for i in idx]
            scores = model.predict(inputs, batch_size=len(inputs), show_progress_bar=False,
                                   activation_fn=torch.nn.Sigmoid(), convert_to_numpy=True)
            values = [float(x) for x in scores.reshape(len(idx), -1)[:, 0]]
            for i, v in zip(idx, values, strict=True):
                out[i] = v
            if on_batch is not None:
                on_batch(idx, values)
        return out
