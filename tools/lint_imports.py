#!/usr/bin/env python3
"""``lint-imports`` that also sees plugins/ and tasks/, which pyproject maps to reag_harness.plugins / .tasks.

    python tools/lint_imports.py [lint-imports options]      (same options, same [tool.importlinter] contracts)

grimp, the graph builder under import-linter, finds each root package with importlib and walks its folder.
``reag_harness.plugins`` lives in plugins/, outside reag_harness/, so with ``root_packages = ["reag_harness"]``
every import of ``reag_harness.plugins.*`` or ``reag_harness.tasks.*`` is dropped without a word, and grimp
refuses ``reag_harness.plugins`` as a root of its own (NotATopLevelModule: its parent is a regular package).
This runs lint-imports unchanged after one change to grimp: a dotted root whose folder lies outside its
parent's folder (a package-dir mapping) is walked under its own name; and, when no config file is named,
it checks pyproject's contracts with the mapped subpackages added to ``root_packages``, so the graph holds
every module under its import name and every import between them. Plain ``lint-imports`` checks the same
contracts over reag_harness/ alone (the plugins/tasks layer is optional there). See
tools/IMPORT_LINTER_NOTES.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

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


def mapped_packages(pyproject: Path) -> list[str]:
    """The subpackages ``[tool.setuptools.package-dir]`` maps into ``reag_harness`` from folders with code of
    their own (plugins/, tasks/; not the data folders such as docs/ or leaderboard/)."""
    table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("setuptools", {}).get("package-dir", {})
    out = []
    for name, folder in table.items():
        code = [f for f in (pyproject.parent / folder).rglob("*.py") if f.name != "__init__.py"]
        if name.startswith("reag_harness.") and code:
            out.append(name)
    return sorted(out)


def with_mapped_roots(pyproject: Path, folder: Path) -> Path:
    """A copy of ``pyproject``'s ``[tool.importlinter]`` whose ``root_packages`` add the mapped subpackages."""
    config = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]
    roots = list(config["root_packages"]) + [m for m in mapped_packages(pyproject) if m not in config["root_packages"]]
    text = pyproject.read_text()
    section = text[text.index("\n[tool.importlinter]\n"):]
    line = re.search(r"^root_packages = .*$", section, re.M)
    if line is None:
        raise SystemExit("tools/lint_imports.py: [tool.importlinter] has no one-line root_packages")
    out = folder / "importlinter.toml"
    out.write_text(section.replace(line.group(0), "root_packages = " + json.dumps(roots), 1))
    return out


def main() -> int:
    """``lint-imports`` over pyproject's contracts (or the config named), with plugins/ and tasks/ in the graph."""
    install()
    from importlinter.cli import lint_imports_command

    args = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        if not [a for a in args if not a.startswith("-")]:  # no config file named: pyproject's, roots added
            args = [str(with_mapped_roots(Path("pyproject.toml").resolve(), Path(tmp))), *args]
        sys.argv = [sys.argv[0], *args]
        return lint_imports_command()


if __name__ == "__main__":
    sys.exit(main())
