"""``reag-eval data check --task T [--task-args ...]``: is the data a run needs present and consistent?
(``reag-eval data get TASK`` fetches it: :mod:`reag_harness.data.get`.)

Runs the task's data checks (query and question-type files, images, KB and the gold pages of the
selected questions, FAISS index, published checksums) and the retriever's (its index against its
encoder), before any model loads; prints one table; exit 0 when nothing failed, else 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    c = sub.add_parser("check", help="check a task's files before a run (exit 1 on any failure)",
                       description="Check that everything a task's run needs is present and consistent.")
    c.add_argument("--task", required=True, help="task name (reag-eval ls tasks)")
    c.add_argument("--task-args", help="task arguments k=v,... (as for a run)")
    c.add_argument("--retriever", help="also check this retriever's data (default: the task's default retriever)")
    c.add_argument("--retriever-args", help="retriever arguments k=v,...")
    c.add_argument("--split", help="only the questions of this split")
    c.add_argument("--limit", type=int, help="only the first N questions")
    c.add_argument("--no-hash", action="store_true", help="do not hash released files (use remembered checksums)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    from .data_get import configure as configure_get

    configure_get(sub)


def collect(args: argparse.Namespace) -> list[Any]:
    """Every check row for the task (and its retriever)."""
    from ...core.config import parse_kv
    from ...core.errors import HarnessError
    from ...core.plugin_manager import get_registry
    from ...data.check import FAIL, OK, SKIP, Check, kb_checks, load_checks, sample_checks
    from ...interfaces import Runtime

    registry = get_registry()
    task_args = parse_kv(args.task_args, "--task-args")
    runtime = Runtime(extra={"on_error": task_args.get("on_error", "skip")})  # count every bad question
    try:
        task = registry.create("task", args.task, runtime, dict(task_args))
    except HarnessError as exc:
        return [Check("task", FAIL, str(exc))]
    runtime.extra["component_args"] = task.component_args
    if callable(getattr(task, "data_checks", None)):
        checks = list(task.data_checks(deep=not args.no_hash, split=args.split, limit=args.limit,
                                       skip_ok=task_args.get("on_error") == "skip"))
        if callable(getattr(task, "model_checks", None)):  # e.g. EVQA's BEM, as the run's pre-flight
            checks += list(task.model_checks())
    else:  # a task without its own checks: load its questions and KB
        samples, checks = load_checks(lambda: task.samples(args.split, args.limit), f"task {task.name}")
        if samples is not None:
            checks += sample_checks(samples, f"task {task.name}")
            try:
                checks += kb_checks(task.knowledge_base(), samples, deep=not args.no_hash)
            except HarnessError as exc:
                checks.append(Check("knowledge base", FAIL, str(exc)))
    try:
        chosen = retriever_choice(task, args.retriever, parse_kv(args.retriever_args, "--retriever-args"))
        if chosen is None:
            return checks
        name, retriever_args = chosen
        retriever = registry.create("retriever", name, runtime, retriever_args)
    except HarnessError as exc:
        checks.append(Check("retriever", FAIL, str(exc)))
        return checks
    rows = getattr(retriever, "data_checks", None)
    if callable(rows):
        checks += list(rows())
        models = getattr(retriever, "model_problems", None)  # its encoder, crop detector, spaCy pipeline
        if callable(models):
            checks += [Check(f"retriever {name} models", FAIL, p) for p in models()] or \
                [Check(f"retriever {name} models", OK, "encoder and crop models available")]
    elif callable(getattr(retriever, "preflight", None)):
        problems = retriever.preflight() or []
        checks += [Check(f"retriever {name}", FAIL, p) for p in problems] or \
            [Check(f"retriever {name}", OK, "its pre-flight found nothing missing")]
    else:
        checks.append(Check(f"retriever {name}", SKIP, "no data of its own to check"))
    return checks


def retriever_choice(task: Any, name: str | None, args: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The retriever (name, args) a run with these options would use; None when there is none."""
    from ...core.plugin_manager import get_registry

    defaults = getattr(task, "default_components", {})
    if name is None:
        if "retriever" not in defaults:
            return None
        name, base = defaults["retriever"][0], dict(defaults["retriever"][1])
    else:
        base = {}
    name = get_registry().get("retriever", name).name
    return name, {**task.component_args("retriever", name), **base, **args}


def run(args: argparse.Namespace) -> int:
    if args.data_command == "get":
        from .data_get import run as run_get

        return run_get(args)
    from ...data.check import FAIL, table

    t0 = time.perf_counter()
    checks = collect(args)
    seconds = time.perf_counter() - t0
    failed = [c for c in checks if c.status == FAIL]
    if args.json:
        json.dump({"task": args.task, "ok": not failed, "seconds": round(seconds, 3),
                   "checks": [c.__dict__ for c in checks]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(table(checks) + "\n")
        verdict = f"{len(failed)} check(s) failed" if failed else "everything needed is present"
        sys.stdout.write(f"\n{args.task}: {verdict} ({seconds:.1f} s)\n")
    return 1 if failed else 0
