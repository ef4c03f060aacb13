"""Which passages reach the generator: the critic's selection rule, score fusion, and the fallback.

The rule is read from the critic when Judgements are read (never stored), so sweeps reuse
the stored scores:

- ``threshold`` / ``top_n``: :meth:`reag_harness.records.Judgement.kept`;
- ``fusion`` (a weight ``w`` in [0, 1]): passages are ranked by ``w * retrieval score of the
  passage's page + (1 - w) * p_yes`` instead of ``p_yes`` (EchoSight: 0.5 visual + 0.5 Q-Former);
- ``fallback`` when the rule keeps nothing from a non-empty retrieval: ``none`` (the prompt's
  all-filtered form), ``top1`` (the best-scored passage) or ``random`` (one passage drawn with
  a generator seeded by the run seed and the sample id: ReflectiVA's reference).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from ..records import Judgement, Retrieval

FALLBACKS = ("none", "top1", "random")


@dataclass
class Selection:
    kept: list[int]
    fallback: str | None = None  # the policy that picked ``kept`` when the rule kept nothing
    fused: list[float] | None = None  # the fused scores, when ``fusion`` is set
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.fallback:
            out["fallback"] = self.fallback
        if self.fused is not None:
            out["fused_scores"] = [round(x, 6) for x in self.fused]
        return {**out, **self.facts}


def rule_of(critic: Any) -> tuple[float | None, int | None, float | None, str]:
    """``(threshold, top_n, fusion, fallback)`` of a critic (absent attributes: None / ``none``)."""
    top_n = getattr(critic, "top_n", None)
    fusion = getattr(critic, "fusion", None)
    fallback = str(getattr(critic, "fallback", None) or "none")
    return (critic.threshold, None if top_n is None else int(top_n), None if fusion is None else float(fusion),
            fallback)


def fused_scores(r: Retrieval, p_yes: tuple[float, ...], weight: float) -> list[float]:
    """``weight * page score + (1 - weight) * p_yes`` per passage (a page missing from ``r.pages`` scores 0)."""
    page_score = dict(r.pages)
    return [weight * float(page_score.get(p.page_key, 0.0)) + (1 - weight) * float(y)
            for p, y in zip(r.passages, p_yes)]


def select(r: Retrieval, j: Judgement, critic: Any, seed: int, n_passages: int | None = None) -> Selection:
    """The kept passage indices of one sample, in retrieval order (``n_passages``: ``len(r.passages)``)."""
    n = len(r.passages) if n_passages is None else n_passages
    threshold, top_n, fusion, fallback = rule_of(critic)
    fused = None
    scores = j.p_yes
    if scores is not None and fusion is not None:
        fused = fused_scores(r, scores, fusion)
        scores = tuple(fused)
    kept = Judgement(j.sample_id, scores).kept(n, threshold, top_n)
    if kept or n == 0 or scores is None or fallback == "none":
        return Selection(kept, None, fused)
    if fallback == "top1":
        return Selection([max(range(n), key=lambda i: (scores[i], -i))], "top1", fused)
    rng = random.Random(f"{seed}:{j.sample_id}")
    return Selection([rng.randrange(n)], "random", fused, {"fallback_seed": seed})
