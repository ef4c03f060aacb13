"""A finished run's ``results.json`` content: metrics, components, timings, errors, what actually ran."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.plugin_manager import get_registry
from ..core.versions import git_hash, versions
from ..records import Sample
from ..results.files import unique_run_id
from ..results.run_identity import checkpoint_label, checkpoint_of, evaluated_split, parameter_count
from ..results.run_results import ComponentInfo, RunResults, StageTiming
from .decoding import decoding_facts
from .stage_generate import prompt_report

RUNNER_DEVIATIONS = [
    "errors are recorded per sample and scored wrong, never turned into the answer 'Error'",
]


def run_results(pipeline: Any, samples: list[Sample], scores: list[dict[str, Any]], quality: dict[str, Any],
                folder: Path) -> RunResults:
    """The :class:`RunResults` of ``pipeline`` (a :class:`.runner.Pipeline` whose stages have run)."""
    ctx, task, config = pipeline.ctx, pipeline.task, pipeline.config
    registry = get_registry()
    if ctx.predict_only:
        metrics: dict[str, Any] = {"n": len(samples), "predict_only": True}
    else:
        metrics = task.aggregate(samples, scores)
    components = {}
    for kind, chosen in pipeline.choice.items():
        entry = registry.get(kind, chosen.name)
        comp = pipeline.components[kind]
        effective = {**chosen.args, **getattr(comp, "args", {})}  # defaults the component filled in
        components[kind] = ComponentInfo(kind, chosen.name, effective, comp.identity(), entry.plugin,
                                         entry.distribution, getattr(comp, "checkpoint", None) or
                                         checkpoint_of(comp), checkpoint_label(comp), parameter_count(comp))
    task_entry = registry.get("task", config.task)
    task_args = dict(config.task_args)
    if data_config := getattr(task, "data_config", None):
        task_args["config"] = str(data_config)  # the data's task.yaml (reag-eval data get), read by itself
    components["task"] = ComponentInfo("task", task.name, task_args, {"fingerprint": task.fingerprint()},
                                       task_entry.plugin, task_entry.distribution)
    timings = [StageTiming(stage, round(c.wall_s, 4), c.computed, c.cached, c.items,
                           round(c.computed / c.wall_s, 3) if c.wall_s > 0 else 0.0)
               for stage, c in ctx.clocks.items()]
    deviations = list(RUNNER_DEVIATIONS)
    for comp in pipeline.components.values():
        deviations += [d for d in getattr(comp, "deviations", []) if d not in deviations]
    by_stage: dict[str, int] = {}
    for stage, _ in ctx.errors.values():
        by_stage[stage] = by_stage.get(stage, 0) + 1
    smoke = any("tiny" in json.dumps(c.identity, default=str) or "tiny" in c.name for c in components.values())
    resolved = {k: {"name": v.name, "args": v.args, "source": v.source} for k, v in pipeline.choice.items()}
    now = datetime.now(timezone.utc)
    shard = pipeline.shard
    return RunResults(
        run_id=unique_run_id(folder.name, now), task=task.name, split=evaluated_split(config.split, task, samples),
        n=len(samples), metrics=metrics, headline_metric=task.headline_metric, components=components,
        retrieval_quality=quality,
        errors={"count": len(ctx.errors), "by_stage": by_stage,
                "skipped_input_lines": list(getattr(task, "skipped_inputs", []) or []),
                "retrieved_pages_not_in_kb": pipeline.kb_keys.summary()},
        timings=timings, config=config.to_json() | {"resolved": resolved, "run_dir": str(folder.resolve())},
        config_fingerprint=pipeline.config_fingerprint(), versions=versions(), git_hash=git_hash(),
        seed=config.seed, device=pipeline.runtime.device, date=now.isoformat(), deviations=deviations, smoke=smoke,
        shard=f"{shard[0]}/{shard[1]}" if shard else None, prompts=prompt_report(ctx),
        runtime_facts=runtime_facts(pipeline), preset_departures=pipeline.preset_departures,
        inputs=dict(getattr(task, "input_facts", None) or {}),
    )


def runtime_facts(pipeline: Any) -> dict[str, Any]:
    """What actually ran: each component's ``runtime_facts()`` (e.g. the attention implementation), image modes."""
    facts: dict[str, Any] = {}
    for kind, comp in pipeline.components.items():
        fn = getattr(comp, "runtime_facts", None)
        if callable(fn):
            facts[kind] = fn()
    facts["query_images"] = pipeline.image_modes
    facts["decoding"] = decoding_facts(pipeline.components["generator"], pipeline.config.seed)
    if getattr(pipeline, "kb_fingerprint", None):  # passage texts not in the run folder are this KB's
        facts["knowledge_base"] = {"fingerprint": pipeline.kb_fingerprint}
    return facts

