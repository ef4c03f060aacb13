"""Plugin discovery through the ``reag_harness`` entry-point group.

Built-ins are entry points of this distribution, registered exactly as a third party's.
Environment variables (checked when the registry is first built):

- ``REAG_HARNESS_PLUGINS``: comma-separated allow-list of entry-point names; only these
  load (``""`` loads none, not even the built-ins).
- ``REAG_HARNESS_BLOCK_PLUGINS``: comma-separated entry-point names never loaded.

A plugin that fails to import or to register is reported in :func:`broken_plugins` and
as one warning line on stderr; it never takes the CLI down:

- the built-ins load first and cannot be displaced: a third-party entry point named like one
  (``builtin-*``) or like an already loaded plugin is reported and skipped;
- ``sys.exit`` or any other ``BaseException`` (but Ctrl-C) at import or in a register hook is
  contained and reported with the plugin's name and distribution;
- a plugin whose register hook raises keeps nothing: every registration it made is rolled back;
- a component name or alias registered twice is reported on one line naming both plugins; the
  later registration is skipped and only *using* that name fails.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any

import pluggy

from .. import hookspecs
from .errors import DuplicateComponentError, HarnessError
from .registry import Entry, Registry

ENTRY_POINT_GROUP = "reag_harness"
OWN_DISTRIBUTION = "reag-harness"
BUILTIN_PREFIX = "builtin-"  # entry-point names only this distribution may use
HOOK_KINDS = {
    "register_tasks": "task",
    "register_retrievers": "retriever",
    "register_critics": "critic",
    "register_generators": "generator",
    "register_prompt_styles": "prompt_style",
    "register_presets": "preset",
}


@dataclass
class BrokenPlugin:
    name: str
    distribution: str | None
    error: str


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]


_pm: pluggy.PluginManager | None = None
_dists: dict[str, tuple[str | None, str | None]] = {}
_broken: list[BrokenPlugin] = []
_registry: Registry | None = None


def _env_list(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def _warn(message: str) -> None:
    from .terminal import term_text

    print(term_text(f"reag-eval: warning: {message}"), file=sys.stderr)


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loading entry points on first use."""
    global _pm
    if _pm is not None:
        return _pm
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    allow, block = _env_list("REAG_HARNESS_PLUGINS"), _env_list("REAG_HARNESS_BLOCK_PLUGINS") or set()
    loaded: dict[str, tuple[str | None, str]] = {}  # entry-point name -> (distribution, value)
    # Built-ins first (sorted is stable), so that nothing can take their names.
    eps = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: not _is_own(ep))
    for ep in eps:
        if ep.name in block or (allow is not None and ep.name not in allow):
            continue
        dist = (ep.dist.name, ep.dist.version) if ep.dist else (None, None)
        if ep.name in loaded or (ep.name.startswith(BUILTIN_PREFIX) and not _is_own(ep)):
            if loaded.get(ep.name) == (dist[0], ep.value):
                continue  # the same plugin seen twice (e.g. two copies of one distribution's metadata)
            holder = f"already loaded from distribution {loaded[ep.name][0]}" if ep.name in loaded else \
                "reserved for the harness's built-ins"
            _report(ep.name, dist[0], f"entry-point name '{ep.name}' is {holder}", "skipped")
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin (even one calling sys.exit) must not take the CLI down
            _report(ep.name, dist[0], _describe(exc), "failed to load")
            continue
        loaded[ep.name] = (dist[0], ep.value)
        _dists[ep.name] = dist
    _pm = pm
    return pm


def _is_own(ep: importlib.metadata.EntryPoint) -> bool:
    return ep.dist is not None and _normalise(ep.dist.name) == OWN_DISTRIBUTION


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _report(plugin: str, dist: str | None, error: str, what: str) -> None:
    _broken.append(BrokenPlugin(plugin, dist, error))
    _warn(f"plugin '{plugin}' (distribution {dist}) {what}: {error}")


def register_plugin(plugin: ModuleType | object, name: str) -> None:
    """Register an in-process plugin (tests, notebooks); the registry is rebuilt."""
    global _registry
    plugin_manager().register(plugin, name=name)
    _registry = None


def unregister_plugin(name: str) -> None:
    global _registry
    pm = plugin_manager()
    plugin = pm.get_plugin(name)
    if plugin is not None:
        pm.unregister(plugin)
    _dists.pop(name, None)
    _registry = None


def _register_callback(
    pending: list[Entry],
    kind: str,
    plugin: str,
    name: str,
    factory: Any,
    *,
    aliases: tuple[str, ...] | list[str] = (),
    description: str = "",
    **extra: Any,
) -> None:
    dist, version = _dists.get(plugin, (None, None))
    pending.append(Entry(kind, name, factory, tuple(aliases), description, plugin, dist, version, dict(extra)))


def get_registry() -> Registry:
    """The registry built from every loaded plugin's ``register_*`` hooks.

    Each plugin's registrations are collected first and kept only if all its hooks succeed.
    """
    global _registry
    if _registry is not None:
        return _registry
    pm = plugin_manager()
    registry = Registry()
    hooks = {name: getattr(pm.hook, name).get_hookimpls() for name in HOOK_KINDS}
    for plugin_name, _plugin in pm.list_name_plugin():
        pending: list[Entry] = []
        try:
            for hook_name, kind in HOOK_KINDS.items():
                for impl in hooks[hook_name]:
                    if impl.plugin_name == plugin_name:
                        impl.function(register=partial(_register_callback, pending, kind, plugin_name))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            dist = _dists.get(plugin_name, (None, None))[0]
            n = len(pending)
            _report(plugin_name, dist, f"{hook_name}: {_describe(exc)}"
                    + (f" (its {n} registration(s) were rolled back)" if n else ""), "failed in")
            continue
        for entry in pending:
            try:
                registry.add(entry)
            except DuplicateComponentError as exc:
                registry.mark_ambiguous(entry, str(exc))
                _warn(f"{exc}; the second is skipped and using that name fails until one plugin is blocked "
                      f"(REAG_HARNESS_BLOCK_PLUGINS={plugin_name})")
            except HarnessError as exc:
                _warn(str(exc))
    _registry = registry
    return registry


def broken_plugins() -> list[BrokenPlugin]:
    plugin_manager()
    return list(_broken)


def plugin_infos() -> list[PluginInfo]:
    """Every loaded plugin with the hooks it implements."""
    pm = plugin_manager()
    infos = []
    for name, plugin in sorted(pm.list_name_plugin()):
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        dist, version = _dists.get(name, (None, None))
        infos.append(PluginInfo(name, dist, version, hooks))
    return infos
