"""Several tasks in one run: ``--task infoseek,evqa`` or a group (``--task kbvqa``).

Each task runs with the same components in one process, so every checkpoint is loaded once (the
model loaders cache per process). Results are written per task (one run folder each); one table
is printed. ``--task-args`` keys may name their task (``infoseek.kb=DIR,evqa.kb=DIR2``); a key
without a task prefix goes to every task. All tasks pass their pre-flight checks before any runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence, TextIO

from ..core.config import RunConfig
from ..core.errors import HarnessError
from ..results.run_results import RunResults

#: Named groups of tasks.
TASK_GROUPS: dict[str, tuple[str, ...]] = {"kbvqa": ("infoseek", "evqa")}


def expand_tasks(spec: str) -> list[str]:
    """``"infoseek,evqa"`` or ``"kbvqa"`` -> task names, in order, without repeats."""
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        for name in TASK_GROUPS.get(part, (part,)):
            if name not in names:
                names.append(name)
    if not names:
        raise HarnessError(f"--task {spec!r}: no task named")
    return names


def is_multi(spec: str) -> bool:
    return len(expand_tasks(spec)) > 1


def task_config(cfg: RunConfig, task: str, tasks: Sequence[str]) -> RunConfig:
    """The run configuration of one task: its own ``task.key=value`` arguments, plus the shared ones."""
    args: dict[str, Any] = {}
    for key, value in cfg.task_args.items():
        prefix, _, rest = key.partition(".")
        if rest and prefix in tasks:
            if prefix == task:
                args[rest] = value
        elif rest and prefix in TASK_GROUPS:
            raise HarnessError(f"--task-args {key}: name a task, not the group {prefix!r}")
        else:
            args[key] = value
    return dataclasses.replace(cfg, task=task, task_args=args)


def evaluate_tasks(cfg: RunConfig, leaderboard: bool = False) -> list[RunResults]:
    """Run every task of ``cfg.task`` with the same components; returns their results in order."""
    from ..api import append_results, track
    from ..core.preflight import PreflightError, run_preflight
    from ..pipeline.runner import Pipeline

    tasks = expand_tasks(cfg.task)
    if cfg.wandb:
        from ..results.tracking import require_wandb

        require_wandb()
    pipelines = [Pipeline(task_config(cfg, t, tasks)) for t in tasks]
    failed = []
    for p in pipelines:  # every task's missing pieces before the first stage of any, in one error
        try:
            run_preflight(p.task, p.components)
        except PreflightError as exc:
            failed.append(f"task {p.task.name}: {exc}")
    if failed:
        raise PreflightError("\n".join(failed))
    out = []
    for p in pipelines:
        results = p.run()
        if leaderboard:
            append_results(results, p.config)
        track(results, p.config)
        out.append(results)
    return out


def print_table(results: Sequence[RunResults], out: TextIO, verbose: bool = False) -> None:
    """One table: a row per task (headline, recall@k, errors) and where its results went."""
    from ..results.report import component_line

    first = results[0]
    out.write(f"\nTasks {', '.join(r.task for r in results)} (device {first.device}), the same components:\n")
    for kind in ("retriever", "critic", "generator", "prompt_style"):
        c = first.components[kind]
        out.write(f"  {kind:<13} {component_line(c.name, c.args, verbose)}\n")
    header = ["task", "n", "headline", "value", "recall@1", "recall@5", "errors"]
    rows = []
    for r in results:
        value = r.metrics.get(r.headline_metric)
        value = value.get("score") if isinstance(value, dict) else value
        rq = r.retrieval_quality
        rows.append([r.task, str(r.n), "predict-only" if r.metrics.get("predict_only") else r.headline_metric,
                     "–" if value is None else f"{value:g}",
                     *("–" if rq.get(k) is None else str(rq[k]) for k in ("recall@1", "recall@5")),
                     str(r.errors.get("count", 0))])
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
    out.write("\n" + "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")
    if any(r.smoke for r in results):
        out.write("\n  NOTE: tiny random-weight checkpoints were used: the scores are meaningless.\n")
    out.write("\n")
    for r in results:
        run_dir = r.config.get("run_dir", "?")
        extra = f"  (submission {r.config['submission']})" if r.config.get("submission") else ""
        out.write(f"  {r.task:<10} results {run_dir}/results.json{extra}\n")
