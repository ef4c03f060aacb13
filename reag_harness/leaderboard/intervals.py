"""A bootstrap interval of a run's headline metric, from its per-sample scores.

Resampling n samples with replacement only matters through how many land in each
(group, correct) category, so one resample is one multinomial draw over those few categories.
The headline is then recomputed from per-group accuracies exactly as the task's metric does:
InfoSeek "All" = harmonic mean of the unseen-question and unseen-entity accuracies; EVQA
single-hop = accuracy over every question type but ``2_hop``; otherwise accuracy.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

N_BOOT = 2000
LEVEL = 95


def _group(task: str, meta: Mapping[str, Any]) -> str | None:
    if task == "infoseek":
        from reag_harness.tasks.infoseek.metric import split_of

        try:
            return split_of(str(meta.get("split", "")))
        except (KeyError, ValueError):
            return None
    if task == "evqa":
        return "two_hop" if str(meta.get("question_type")) == "2_hop" else "single_hop"
    return "all"


def _headline(task: str, acc: Mapping[str, Any]) -> Any:
    if task == "infoseek":
        uq, ue = acc["unseen_question"], acc["unseen_entity"]
        return 2 * uq * ue / (uq + ue + 1e-300)
    return acc["single_hop"] if task == "evqa" else acc["all"]


def headline_interval(task: str, samples: Sequence[Mapping[str, Any]], *, n_boot: int = N_BOOT,
                      seed: int = 0) -> dict[str, Any] | None:
    """``{"lo", "hi", "level", "n_boot", "method"}`` in percent, or None when the samples cannot give one."""
    import numpy as np

    cells: dict[tuple[str, int], int] = {}
    for s in samples:
        correct = (s.get("score") or {}).get("correct")
        group = _group(task, s.get("meta") or {})
        if group is None or not isinstance(correct, (int, float, bool)):
            return None
        key = (group, int(bool(correct)))
        cells[key] = cells.get(key, 0) + 1
    groups = {"infoseek": ("unseen_question", "unseen_entity"), "evqa": ("single_hop",)}.get(task, ("all",))
    if not samples or any(cells.get((g, 0), 0) + cells.get((g, 1), 0) == 0 for g in groups):
        return None
    keys = sorted(cells)
    n = sum(cells.values())
    draws = np.random.default_rng(seed).multinomial(n, [cells[k] / n for k in keys], size=n_boot)
    acc = {}
    for g in groups:
        right = sum(draws[:, i] for i, k in enumerate(keys) if k == (g, 1))
        total = sum(draws[:, i] for i, k in enumerate(keys) if k[0] == g)
        acc[g] = 100 * np.where(total > 0, right / np.maximum(total, 1), np.nan)
    values = _headline(task, acc)
    values = values[~np.isnan(values)]
    lo, hi = np.quantile(values, [(100 - LEVEL) / 200, 1 - (100 - LEVEL) / 200])
    return {"lo": round(float(lo), 2), "hi": round(float(hi), 2), "level": LEVEL, "n_boot": n_boot,
            "method": "percentile bootstrap over samples"}
