"""Pre-flight: everything a run needs is checked before the first stage starts.

Any task or component may define ``preflight(self) -> list[str]``: one line per problem
(what is missing and how to provide it), an empty list when all is well. It must be cheap
and must not load a model or touch the network: look for files, folders and cache entries.
:func:`run_preflight` asks every one of them and fails once, listing every problem, so a
run never dies after hours of retrieval because the scorer's model was missing.

A check that informs rather than refuses (a released file's checksum or row count differs) puts
its lines in the object's ``preflight_warnings``: printed once, and the run goes on. Model
checkpoints are checked by :mod:`reag_harness.models.checkpoint_check` (weights against the config's model,
no weight loaded) through each component's ``preflight``.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Sequence

from .errors import HarnessError


class PreflightError(HarnessError):
    """One or more things a run needs are missing; the message lists each."""


def collect_problems(task: Any, components: Mapping[str, Any]) -> list[str]:
    """Problems reported by the task and each component, each line prefixed by who found it."""
    problems: list[str] = []
    for who, obj in [("task", task), *components.items()]:
        check = getattr(obj, "preflight", None)
        if not callable(check):
            continue
        name = getattr(obj, "name", type(obj).__name__)
        for line in check() or []:
            problems.append(f"{who.replace('_', '-')} {name}: {line}")
    return problems


def run_preflight(task: Any, components: Mapping[str, Any], first: Sequence[str] = ()) -> None:
    """Raise :class:`PreflightError` listing every problem; return quietly when there is none.

    ``first``: problems the caller already met (e.g. the questions could not be read), listed
    before the others unless a check reports the same text.
    """
    found = collect_problems(task, components)
    problems = [p for p in first if not any(p.split(": ", 1)[-1] in q for q in found)] + found
    for who, obj in [("task", task), *components.items()]:
        shown = getattr(obj, "_preflight_warned", set())
        for line in getattr(obj, "preflight_warnings", None) or []:  # each once, the run goes on
            if line not in shown:
                print(f"reag-eval: warning: {who.replace('_', '-')} {getattr(obj, 'name', '')}: {line}",
                      file=sys.stderr)
                shown.add(line)
        if shown:
            obj._preflight_warned = shown
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise PreflightError(f"pre-flight found {len(problems)} problem(s) before any stage ran:\n{lines}")


def remote_code_notice(choice: Mapping[str, Any]) -> str | None:
    """One line naming every component that will run a checkpoint's own modelling code, and who asked."""
    users = [f"{kind.replace('_', '-')} {c.name} ({c.source})" for kind, c in choice.items()
             if str(c.args.get("trust_remote_code", "")).lower() in ("true", "1", "yes")]
    if not users:
        return None
    return ("reag-eval: trust_remote_code=true: modelling code shipped with the checkpoint runs on this machine for "
            + "; ".join(users))
