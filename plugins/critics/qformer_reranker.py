"""``qformer-reranker``: EchoSight's BLIP-2 Q-Former section reranker as a critic.

``p_yes`` is the Q-Former score of (image + question, section) — a cosine similarity in
[-1, 1], not a probability (:mod:`reag_harness.models.qformer_reranker`). EchoSight's
selection is the critic's rule: ``fusion=0.5`` ranks passages by 0.5 x the page's retrieval
similarity + 0.5 x this score, ``top_n=1`` keeps the best section, ``threshold`` stays unset.
``pretrained`` is a transformers ``Blip2ForImageTextRetrieval`` checkpoint (default
``Salesforce/blip2-itm-vit-g``, the HF port of the LAVIS BLIP-2 Q-Former EchoSight starts
from) or ``tiny:blip2-reranker``; ``checkpoint`` is EchoSight's fine-tuned ``reranker.pth``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from reag_harness.core.errors import HarnessError
from reag_harness.core.selection import FALLBACKS
from reag_harness.interfaces import Component, Runtime
from reag_harness.models.hf_checkpoints import checkpoint_identity
from reag_harness.models.hf_vlm import resolve_pretrained
from reag_harness.records import Passage, Sample

DEFAULT_PRETRAINED = "Salesforce/blip2-itm-vit-g"


class QFormerRerankerCritic(Component):
    name = "qformer-reranker"
    version = "1"
    deviations = [
        "qformer-reranker: transformers' Blip2ForImageTextRetrieval in the checkpoint's dtype; EchoSight runs LAVIS "
        "in half precision under autocast",
    ]

    def __init__(self, runtime: Runtime, pretrained: str = DEFAULT_PRETRAINED, checkpoint: str | None = None,
                 threshold: float | None = None, top_n: int | None = 1, fusion: float | None = 0.5,
                 fallback: str = "none") -> None:
        if fallback not in FALLBACKS:
            raise HarnessError(f"critic qformer-reranker: fallback={fallback!r}; use one of {', '.join(FALLBACKS)}")
        if fusion is not None and not 0 <= float(fusion) <= 1:
            raise HarnessError(f"critic qformer-reranker: fusion={fusion} must be a weight in [0, 1]")
        super().__init__(runtime, pretrained=pretrained, checkpoint=checkpoint, threshold=threshold, top_n=top_n,
                         fusion=fusion, fallback=fallback)
        self.pretrained = str(pretrained)
        self.checkpoint_path = checkpoint
        self.threshold = None if threshold is None else float(threshold)
        self.top_n = None if top_n is None else int(top_n)
        self.fusion = None if fusion is None else float(fusion)
        self.fallback = fallback
        self._loaded: tuple[Any, Any, int] | None = None

    def identity(self) -> dict[str, Any]:
        ident = {**super().identity(), "model": checkpoint_identity(resolve_pretrained(self.pretrained))}
        if self.checkpoint_path:
            from reag_harness.core.digests import digests

            ident["reranker_pth"] = digests([str(self.checkpoint_path)])
        return ident

    def p_yes(self, pairs: Sequence[tuple[Sample, Passage]],
              on_batch: Callable[[list[int], list[Any]], None] | None = None) -> list[float]:
        from PIL import Image

        from reag_harness.models.qformer_reranker import load_reranker, section_scores

        if self._loaded is None:
            self._loaded = load_reranker(resolve_pretrained(self.pretrained), self.checkpoint_path,
                                         self.runtime.device, self.runtime.dtype)
        model, tokenizer, size = self._loaded
        out: list[float] = [0.0] * len(pairs)
        groups: dict[str, list[int]] = {}
        for i, (sample, _) in enumerate(pairs):
            groups.setdefault(sample.id, []).append(i)
        for idx in groups.values():  # one multimodal query per sample, its sections scored together
            sample = pairs[idx[0]][0]
            if sample.image is None:
                raise HarnessError(f"critic qformer-reranker: sample {sample.id} has no image")
            with Image.open(sample.image) as image:
                scores = section_scores(model, tokenizer, size, image, sample.question,
                                        [pairs[i][1].text for i in idx])
            for i, s in zip(idx, scores):
                out[i] = float(s)
            if on_batch is not None:
                on_batch(idx, [out[i] for i in idx])
        return out
