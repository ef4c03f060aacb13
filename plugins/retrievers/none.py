"""The no-retrieval baseline: the prompt gets no context at all."""

from __future__ import annotations

from typing import Sequence

from reag_harness.interfaces import Component, KnowledgeBase
from reag_harness.records import Retrieval, Sample


class NoRetriever(Component):
    name = "none"

    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]:
        return [Retrieval(sample_id=s.id, used=False) for s in samples]
