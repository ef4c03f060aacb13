"""Plugin discovery through the ``reag_harness`` entry-point group.

Built-ins are entry points of this distribution, registered exactly as a third party's.
Environment variables (checked when the registry is first built):

- ``REAG_HARNESS_PLUGINS``: comma-separated allow-list of entry-point names; only these
  load (``""`` loads none, not even the built-ins).
- ``REAG_HARNESS_BLOCK_PLUGINS``: comma-separated entry-point names never loaded.

A plugin that fails to import or to register is reported in :func:`broken_plugins` and
as one warning line on stderr; it never takes the CLI down.
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

from . import hookspecs
from .errors import DuplicateComponentError
from .registry import Entry, Registry

ENTRY_POINT_GROUP = "reag_harness"
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
    print(f"reag-eval: warning: {message}", file=sys.stderr)


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loading entry points on first use."""
    global _pm
    if _pm is not None:
        return _pm
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    allow, block = _env_list("REAG_HARNESS_PLUGINS"), _env_list("REAG_HARNESS_BLOCK_PLUGINS") or set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in block or (allow is not None and ep.name not in allow) or pm.has_plugin(ep.name):
            continue
        dist = (ep.dist.name, ep.dist.version) if ep.dist else (None, None)
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken third-party plugin must not take the CLI down
            _broken.append(BrokenPlugin(ep.name, dist[0], f"{type(exc).__name__}: {exc}"))
            _warn(f"plugin '{ep.name}' (distribution {dist[0]}) failed to load: {type(exc).__name__}: {exc}")
            continue
        _dists[ep.name] = dist
    _pm = pm
    return pm


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
    registry: Registry,
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
    registry.add(Entry(kind, name, factory, tuple(aliases), description, plugin, dist, version, dict(extra)))


def get_registry() -> Registry:
    """The registry built from every loaded plugin's ``register_*`` hooks."""
    global _registry
    if _registry is not None:
        return _registry
    pm = plugin_manager()
    registry = Registry()
    for hook_name, kind in HOOK_KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            register = partial(_register_callback, registry, kind, impl.plugin_name)
            try:
                impl.function(register=register)
            except DuplicateComponentError:
                raise
            except Exception as exc:
                dist = _dists.get(impl.plugin_name, (None, None))[0]
                _broken.append(BrokenPlugin(impl.plugin_name, dist, f"{hook_name}: {type(exc).__name__}: {exc}"))
                _warn(f"plugin '{impl.plugin_name}' failed in {hook_name}: {type(exc).__name__}: {exc}")
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
