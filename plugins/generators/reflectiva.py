"""``reflectiva``: ReflectiVA (aimagelab/ReflectiVA, CVPR 2025) as the generator, with its ``[RET]`` gate.

The checkpoint is LLaVA-MORE's ``llava_llama`` (LLaMA-3.1-8B, CLIP ViT-L/14-336, MLP
projector), run by :mod:`reag_harness.models.llava_llama`. The reference
(``rag_evaluation/*/release_retrieval.py``) first generates from the question alone and
retrieves only when the first generated token is ``[RET]`` (id 128251):
:meth:`ReflectiVAGenerator.retrieval_decision` is that gate (the runner skips retrieval for a
sample it turns down and records the decision in samples.jsonl).

Decoding: greedy by default (deterministic); ``temperature=0.2`` is the reference's sampling
(``do_sample = temperature > 0``, ``top_p=None``, one beam, ``max_new_tokens=128``), seeded
with the run seed and recorded in ``runtime_facts``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from reag_harness.interfaces import Component, Runtime
from reag_harness.models.hf_checkpoints import checkpoint_identity
from reag_harness.models.hf_vlm import resolve_pretrained
from reag_harness.models.reflectiva_model import ReflectiVAModel
from reag_harness.records import ChatRequest, Sample

REFERENCE_TEMPERATURE = 0.2
DEFAULT_PRETRAINED = "aimagelab/ReflectiVA"


class ReflectiVAGenerator(Component):
    name = "reflectiva"
    version = "1"

    def __init__(self, runtime: Runtime, pretrained: str = DEFAULT_PRETRAINED, max_new_tokens: int = 128,
                 temperature: float = 0.0, top_p: float | None = None, gate: bool = True,
                 add_generation_prompt: bool = False) -> None:
        super().__init__(runtime, pretrained=pretrained, max_new_tokens=int(max_new_tokens),
                         temperature=float(temperature), top_p=top_p, gate=bool(gate),
                         add_generation_prompt=bool(add_generation_prompt))
        self.pretrained = str(pretrained)
        tiny = self.pretrained.startswith("tiny:")
        self.checkpoint = resolve_pretrained(self.pretrained) if tiny else self.pretrained
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.top_p = top_p
        self.gate = bool(gate)
        self.add_generation_prompt = bool(add_generation_prompt)
        self._model: ReflectiVAModel | None = None
        self.deviations = [] if self.temperature == REFERENCE_TEMPERATURE else [
            f"reflectiva: decoding with temperature={self.temperature} (0 = greedy); the reference samples at "
            f"T={REFERENCE_TEMPERATURE} (pass --generator-args temperature={REFERENCE_TEMPERATURE})"]
        self.deviations.append("reflectiva [RET] gate: the decision is the greedy first token (argmax), also when the "
                               "answer is sampled; the reference samples the first token too")

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "checkpoint": checkpoint_identity(resolve_pretrained(self.pretrained))}

    @property
    def model(self) -> ReflectiVAModel:
        if self._model is None:
            self._model = ReflectiVAModel(self.checkpoint, self.runtime.device, self.runtime.dtype,
                                          self.add_generation_prompt)
        return self._model

    # ---- the [RET] gate ----------------------------------------------------------------------------
    def retrieval_decision(self, samples: Sequence[Sample]) -> list[dict[str, Any] | None]:
        """Per sample: retrieve when the first token of the retrieval prompt is ``[RET]`` (None: gate off)."""
        from reag_harness.prompts.reflectiva import opening

        if not self.gate:
            return [None for _ in samples]
        m = self.model
        out: list[dict[str, Any] | None] = []
        for s in samples:
            probs = m.next_token_probs(opening(s))
            first = int(probs.argmax())
            out.append({"retrieve": first == m.ids["retrieval"], "by": f"generator {self.name}",
                        "token": str(m.tokenizer.convert_ids_to_tokens(first)), "token_id": first,
                        "p_retrieval": float(probs[m.ids["retrieval"]]),
                        "p_no_retrieval": float(probs[m.ids["no_retrieval"]])})
        return out

    # ---- generation ----------------------------------------------------------------------------------
    def generate(self, requests: Sequence[ChatRequest],
                 on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[str]:
        out = []
        for i, r in enumerate(requests):  # the reference runs one sample at a time (batch_size=1)
            text = self.model.generate(r.messages, max_new_tokens=int(r.max_new_tokens or self.max_new_tokens),
                                       temperature=self.temperature, top_p=self.top_p, seed=self.runtime.seed,
                                       assistant_prefix=r.assistant_prefix, stop=r.stop)
            out.append(text)
            if on_batch is not None:
                on_batch([i], [text])
        return out

    def runtime_facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"sampling": {"do_sample": self.temperature > 0, "temperature": self.temperature,
                                              "top_p": self.top_p, "seed": self.runtime.seed,
                                              "reference_temperature": REFERENCE_TEMPERATURE}}
        if self._model is not None:
            facts["reflective_tokens"] = {k: [v, self._model.token_names()[k]] for k, v in self._model.ids.items()}
        return facts
