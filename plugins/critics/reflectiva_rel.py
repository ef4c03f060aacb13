"""``reflectiva-rel``: ReflectiVA's relevance token as a critic.

For each passage the reference generates from the relevance chat
(:func:`plugins.prompt_styles.reflectiva.relevance_request`) and keeps the passage when the
first token is ``[REL]`` (id 128253; ``[NOREL]`` is 128252). Here ``p_yes`` is the model's
probability of ``[REL]`` at that position (softmax over the full vocabulary), so thresholds,
``top_n`` and sweeps apply; ``threshold=0.5`` keeps what greedy ``[REL]`` keeps whenever
``[REL]`` and ``[NOREL]`` carry the probability mass (the pairs where the argmax rule and the
threshold disagree are counted in ``runtime_facts``). ``fallback=random`` is the reference's
choice of one random passage when none is kept (seeded by the run seed and the sample id).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from reag_harness.core.errors import HarnessError
from reag_harness.core.selection import FALLBACKS
from reag_harness.interfaces import Component, Runtime
from reag_harness.models.hf_checkpoints import checkpoint_identity
from reag_harness.models.hf_vlm import resolve_pretrained
from reag_harness.models.reflectiva_model import ReflectiVAModel
from reag_harness.records import Passage, Sample

from ..generators.reflectiva import DEFAULT_PRETRAINED


class ReflectiVARelCritic(Component):
    name = "reflectiva-rel"
    version = "1"
    deviations = [
        "reflectiva-rel: p_yes = P([REL]) of the first token with threshold 0.5; the reference keeps a passage when "
        "the sampled (T=0.2) first token is [REL]",
    ]

    def __init__(self, runtime: Runtime, pretrained: str | None = None, threshold: float | None = 0.5,
                 top_n: int | None = None, fallback: str = "random", add_generation_prompt: bool = False) -> None:
        if fallback not in FALLBACKS:
            raise HarnessError(f"critic reflectiva-rel: fallback={fallback!r}; use one of {', '.join(FALLBACKS)}")
        if pretrained is None:  # the generator's checkpoint (ReflectiVA judges with the model that answers)
            pretrained = runtime.extra.get("resolved_args", {}).get("generator", {}).get("pretrained")
        pretrained = pretrained or DEFAULT_PRETRAINED
        super().__init__(runtime, pretrained=pretrained, threshold=threshold, top_n=top_n, fallback=fallback,
                         add_generation_prompt=bool(add_generation_prompt))
        self.pretrained = str(pretrained)
        self.threshold = None if threshold is None else float(threshold)
        self.top_n = top_n
        self.fallback = fallback
        self.add_generation_prompt = bool(add_generation_prompt)
        self.disagreements = 0
        self.argmax_other = 0
        self._model: ReflectiVAModel | None = None

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "checkpoint": checkpoint_identity(resolve_pretrained(self.pretrained))}

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]],
              on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[float]:
        from reag_harness.plugins.prompt_styles.reflectiva import relevance_request

        if self._model is None:
            self._model = ReflectiVAModel(resolve_pretrained(self.pretrained), self.runtime.device,
                                          self.runtime.dtype, self.add_generation_prompt)
        m = self._model
        out = []
        for i, (sample, passage) in enumerate(pairs):
            probs = m.next_token_probs(relevance_request(sample, passage.text).messages)
            p = float(probs[m.ids["relevant"]])
            first = int(probs.argmax())
            if first not in (m.ids["relevant"], m.ids["no_relevant"]):
                self.argmax_other += 1
            if self.threshold is not None and (first == m.ids["relevant"]) != (p > self.threshold):
                self.disagreements += 1
            out.append(p)
            if on_batch is not None:
                on_batch([i], [p])
        return out

    def runtime_facts(self) -> dict[str, Any]:
        return {"argmax_vs_threshold_disagreements": self.disagreements,
                "argmax_neither_rel_nor_norel": self.argmax_other, "fallback": self.fallback}
