"""The per-sample retrieval decision: a generator or prompt style may turn retrieval down for a sample.

A component with ``retrieval_decision(samples) -> list[dict | None]`` gates retrieval
(ReflectiVA's ``[RET]`` token). A decision is a dict with at least ``"retrieve": bool``
(plus what the component wants recorded: the token, its probability, ...); None means no
decision (retrieve). A sample turned down gets a Retrieval with ``used=False`` (the prompt
then has no context); every decision is recorded in samples.jsonl (``retrieval_decision``)
and cached per sample under the gating component's identity.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..records import Retrieval, Sample
from .store import StageStore, fingerprint

GATE_VERSION = "1"


def gating_component(components: dict[str, Any]) -> tuple[str, Any] | None:
    """``(kind, component)`` of the first generator / prompt style that gates retrieval."""
    for kind in ("generator", "prompt_style"):
        comp = components.get(kind)
        if callable(getattr(comp, "retrieval_decision", None)):
            return kind, comp
    return None


def gate_store(root: Path, components: dict[str, Any], enabled: bool) -> StageStore | None:
    gate = gating_component(components)
    if gate is None:
        return None
    kind, comp = gate
    fp = fingerprint("gate", GATE_VERSION, kind, comp.identity())
    return StageStore(root, "gate", fp, {"gate": {kind: comp.identity()}}, enabled)


GateFn = Callable[[Sequence[Sample]], list[Any]]


def decide(components: dict[str, Any], samples: Sequence[Sample], store: StageStore | None, check: Any,
           isolate: Callable[[GateFn, Sequence[Sample]], list[Any]] | None = None,
           failed: Callable[[Sample], bool] = lambda s: False) -> tuple[dict[str, dict[str, Any]], float]:
    """Decisions by sample id (only samples with one) and the seconds spent computing them.

    ``isolate(fn, samples)`` runs the gate under the runner's error isolation (``--on-error skip``);
    a sample for which ``failed`` then holds is neither decided nor cached.
    """
    gate = gating_component(components)
    if gate is None or store is None or not samples:
        return {}, 0.0
    out: dict[str, dict[str, Any]] = {}
    todo = []
    for s in samples:
        hit = store.get(s.id, check(s))
        if hit is not None:
            if hit.get("decision") is not None:
                out[s.id] = hit["decision"]
        else:
            todo.append(s)
    t0 = time.perf_counter()
    fn = gate[1].retrieval_decision
    decisions = (list(isolate(fn, todo)) if isolate is not None else list(fn(todo))) if todo else []
    done = [(s, d) for s, d in zip(todo, decisions) if not failed(s)]
    store.put_many((s.id, check(s), {"decision": d}) for s, d in done)
    for s, d in done:
        if d is not None:
            out[s.id] = d
    return out, time.perf_counter() - t0


def declined(decision: dict[str, Any] | None) -> bool:
    return decision is not None and not decision.get("retrieve", True)


def no_retrieval(sample_id: str, decision: dict[str, Any]) -> Retrieval:
    """The Retrieval of a sample whose gate turned retrieval down."""
    return Retrieval(sample_id, used=False, info={"skipped_by_gate": True})
