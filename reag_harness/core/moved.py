"""Old module paths (before the package restructure) kept importable, with a DeprecationWarning.

``reag_harness.errors`` is ``reag_harness.core.errors``, the same module object, so a plugin written
against the flat layout still loads and its ``isinstance`` checks still hold. Installed once by
``reag_harness/__init__.py``; nothing is imported until an old path is asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: old dotted path -> new dotted path (a package maps its submodules too: longest prefix wins)
MOVED: dict[str, str] = {}


def new_name(old: str) -> str | None:
    """The new path of an old module path, or None when it did not move."""
    parts = old.split(".")
    for n in range(len(parts), 1, -1):
        head = ".".join(parts[:n])
        if head in MOVED:
            return ".".join([MOVED[head], *parts[n:]])
    return None


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        warnings.warn(f"{spec.name} moved to {self.target}; the old path will be removed in a later release",
                      DeprecationWarning, stacklevel=4)
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module has run."""


class MovedModules(importlib.abc.MetaPathFinder):
    """Finds an old module path and hands back the module at its new path."""

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("reag_harness."):
            return None
        new = new_name(fullname)
        if new is None or new == fullname:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (after the normal finders: a real module always wins)."""
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        sys.meta_path.append(MovedModules())
