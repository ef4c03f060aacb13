"""Which components a run uses: CLI names, presets and task defaults resolved, with their arguments."""

from __future__ import annotations

import inspect
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from ..core.config import RunConfig
from ..core.errors import HarnessError
from ..core.plugin_manager import get_registry


@dataclass
class Resolved:
    """A component choice: name, merged args, and where the choice came from."""

    name: str
    args: dict[str, Any]
    source: str
    departure: dict[str, Any] | None = None  # the preset's component this choice replaced (preset_departures)


def resolve_device(device: str) -> str:
    """``auto``: CUDA when present (``cuda:LOCAL_RANK`` under torchrun), else CPU."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    if not torch.cuda.is_available():
        return "cpu"
    local_rank = os.environ.get("LOCAL_RANK")
    return f"cuda:{local_rank}" if local_rank is not None else "cuda"


def resolve_components(config: RunConfig, task: Any) -> dict[str, Resolved]:
    """CLI names beat an explicit preset, which beats a generator-named preset, then task defaults.

    Arguments merge in the same order on top of the task's ``component_args``. The task's default
    arguments for a component (e.g. its ``top_k``) still apply when the user or a preset names that
    same component: ``--retriever eva-clip`` on a task whose default is eva-clip keeps the task's
    arguments; a preset's and the user's arguments override them key by key.
    """
    registry = get_registry()
    preset: dict[str, Any] = {}
    preset_source = ""
    if config.preset:
        preset, preset_source = registry.get("preset", config.preset).factory, f"preset {config.preset}"
    elif config.generator and ("preset", config.generator) in registry:
        preset, preset_source = registry.get("preset", config.generator).factory, f"preset {config.generator}"
    resolved: dict[str, Resolved] = {}
    for kind in ("retriever", "critic", "generator", "prompt_style"):
        name, args, source = getattr(config, kind), {}, "cli"
        departure = None
        if name is None and kind in preset:
            name, args, source = preset[kind][0], dict(preset[kind][1]), preset_source
        elif name is not None and kind in preset and same_component(registry, kind, preset[kind][0], name):
            args = dict(preset[kind][1])
        elif name is not None and kind in preset:  # a swap: the preset's arguments that apply carry over
            args = carried_args(registry, kind, name, dict(preset[kind][1]))
            departure = {"kind": kind, "preset": preset_source.removeprefix("preset "), "preset_component":
                         preset[kind][0], "preset_args": dict(preset[kind][1]), "used": name, "carried_over": args}
        if name is None and kind in task.default_components:
            default_name, default_args = task.default_components[kind]
            name, args, source = default_name, dict(default_args), f"task {task.name} default"
        if name is None:
            raise HarnessError(f"no {kind.replace('_', '-')} chosen and task '{task.name}' has no default: "
                               f"pass --{kind.replace('_', '-')}")
        name = registry.get(kind, name).name  # resolves aliases, fails with suggestions
        args = {**task_default_args(task, kind, name, registry), **args}
        merged = {**task.component_args(kind, name), **args, **getattr(config, f"{kind}_args")}
        resolved[kind] = Resolved(name, merged, source, departure)
    return with_generator_prompt_args(resolved, registry)


def same_component(registry: Any, kind: str, a: str, b: str) -> bool:
    """Whether two names (aliases included) are the same registered component."""
    try:
        return registry.get(kind, a).name == registry.get(kind, b).name
    except HarnessError:
        return a == b


#: The preset arguments that carry over to a swapped-in component that takes them (settings of the method, not
#: of the swapped-out component's own checkpoint or encoder)
CARRIED_KEYS = ("crop", "crop_args", "top_k", "threshold", "top_n", "all_filtered", "fusion", "fallback")


def accepted_args(factory: Any) -> set[str]:
    """The argument names a component factory takes. A ``**args`` that forwards to another component counts
    that one's: a class's base classes (``TinyEvaClipRetriever(EvaClipRetriever)``), or a factory function's
    ``forwards_to`` (the class it builds). A ``**args`` that only names unknown arguments counts nothing."""
    targets = list(inspect.getmro(factory)) if inspect.isclass(factory) else [factory]
    if (fwd := getattr(factory, "forwards_to", None)) is not None:
        targets += list(inspect.getmro(fwd))
    names: set[str] = set()
    for target in targets:
        init = target.__dict__.get("__init__") if inspect.isclass(target) else target
        if init is None or target is object:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            continue
        names |= {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return names - {"self", "runtime"}


def carried_args(registry: Any, kind: str, name: str, preset_args: dict[str, Any]) -> dict[str, Any]:
    """The preset's arguments for ``kind`` that the swapped-in component ``name`` takes (crop, top_k, ...)."""
    if name == "none" or not preset_args:
        return {}
    try:
        accepted = accepted_args(registry.get(kind, name).load())
    except HarnessError:
        return {}
    return {k: v for k, v in preset_args.items() if k in accepted and k in CARRIED_KEYS}


def announce_departures(resolved: dict[str, Resolved]) -> list[dict[str, Any]]:
    """Print, at start, each component swapped out of the preset; return them for results.json."""
    out = [r.departure for r in resolved.values() if r.departure]
    for d in out:
        carried = ", ".join(f"{k}={v}" for k, v in d["carried_over"].items()) or "nothing"
        print(f"reag-eval: departing from preset {d['preset']}: {d['kind']} {d['preset_component']} replaced by "
              f"{d['used']} (carried over: {carried}); this run is no longer the preset's setting",
              file=sys.stderr)
    return out


def with_generator_prompt_args(resolved: dict[str, Resolved], registry: Any) -> dict[str, Resolved]:
    """Add the prompt-style arguments the generator requires (its factory's ``prompt_style_args``).

    ``hf-llm`` (text only) requires ``text_only=True``: the prompt style then drops the image
    explicitly, and the resolved configuration in results.json shows it. Arguments the user
    gave win (and a text-only generator then refuses a request that carries an image).
    """
    factory = registry.get("generator", resolved["generator"].name).load()
    required = dict(getattr(factory, "prompt_style_args", None) or {})
    if required:
        style = resolved["prompt_style"]
        resolved["prompt_style"] = Resolved(style.name, {**required, **style.args}, style.source)
    return resolved


def task_default_args(task: Any, kind: str, name: str, registry: Any) -> dict[str, Any]:
    """The task's default arguments for ``kind`` when its default component is ``name`` (aliases resolved)."""
    default = task.default_components.get(kind)
    if default is None or (kind, default[0]) not in registry or registry.get(kind, default[0]).name != name:
        return {}
    return dict(default[1])


def selection_rule(critic: Any) -> tuple[float | None, int | None]:
    """The critic's (threshold, top_n): applied when reading Judgements, never stored."""
    top_n = getattr(critic, "top_n", None)
    return critic.threshold, None if top_n is None else int(top_n)


def critic_active(critic: Any) -> bool:
    """A critic runs when it selects passages: by a threshold, a top_n, or both."""
    threshold, top_n = selection_rule(critic)
    return threshold is not None or top_n is not None


def critic_identity(critic: Any) -> dict[str, Any]:
    """The critic's identity without its selection rule: a threshold sweep reuses stored p_yes."""
    ident = json.loads(json.dumps(critic.identity(), default=str))
    ident.get("args", {}).pop("threshold", None)
    for key in ("top_n", "fusion", "fallback"):  # read when selecting, never part of the stored scores
        ident.get("args", {}).pop(key, None)
    return ident
