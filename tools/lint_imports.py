#!/usr/bin/env python3
"""``lint-imports`` that also sees plugins/ and tasks/, which pyproject maps to reag_harness.plugins / .tasks.

    python tools/lint_imports.py [lint-imports options]      (same options, same [tool.importlinter] contracts)

grimp, the graph builder under import-linter, finds each root package with importlib and walks its folder.
``reag_harness.plugins`` lives in plugins/, outside reag_harness/, so with ``root_packages = ["reag_harness"]``
every import of ``reag_harness.plugins.*`` or ``reag_harness.tasks.*`` is dropped without a word, and grimp
refuses ``reag_harness.plugins`` as a root of its own (NotATopLevelModule: its parent is a regular package).
This runs lint-imports unchanged after one change to grimp: a dotted root whose folder lies outside its
parent's folder (a package-dir mapping) is walked under its own name. With
``root_packages = ["reag_harness", "reag_harness.plugins", "reag_harness.tasks"]`` the graph then holds every
module under its import name, and every import between them. See tools/IMPORT_LINTER_NOTES.md.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from grimp.adaptors.packagefinder import ImportLibPackageFinder
from grimp.application.config import settings


def _inside(location: str, folders: list[str]) -> bool:
    location = os.path.realpath(location)
    return any(location == os.path.realpath(f) or location.startswith(os.path.realpath(f) + os.sep) for f in folders)


class MappedPackageFinder(ImportLibPackageFinder):
    """grimp's finder, which also takes a subpackage mapped to a folder outside its parent's as a root."""

    def determine_package_directories(self, package_name, file_system):  # type: ignore[no-untyped-def]
        parent, _, _ = package_name.rpartition(".")
        if parent:
            spec, parent_spec = importlib.util.find_spec(package_name), importlib.util.find_spec(parent)
            own = list(spec.submodule_search_locations or []) if spec else []
            theirs = list(parent_spec.submodule_search_locations or []) if parent_spec else []
            if own and theirs and not any(_inside(loc, theirs) for loc in own):
                return set(own)
        return super().determine_package_directories(package_name, file_system)


def install() -> None:
    """Make grimp (and so import-linter) use the finder above."""
    settings.configure(PACKAGE_FINDER=MappedPackageFinder())


def main() -> int:
    install()
    from importlinter.cli import lint_imports_command

    return lint_imports_command()


if __name__ == "__main__":
    sys.exit(main())
