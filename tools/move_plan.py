"""The plan of a module move: the mapping file, where each dotted module lives, and where every file goes.

Used by ``tools/move_modules.py``; stdlib only, reads the repository but changes nothing.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
# Folders whose tracked files are rewritten (besides the top-level files below).
SCOPE_DIRS = ("reag_harness", "plugins", "tasks", "tests", "benchmarks", "examples", "docs", ".ci")
SCOPE_FILES = ("README.md", "Makefile", "pyproject.toml", "setup.py")


class PlanError(Exception):
    """A mapping that cannot be applied as written (the message says which line and why)."""


def package_dirs(root: Path) -> dict[str, str]:
    """pyproject's ``[tool.setuptools.package-dir]``: dotted package -> folder (reag_harness.plugins -> plugins/)."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib

        found = tomllib.loads(text).get("tool", {}).get("setuptools", {}).get("package-dir", {})
    except ModuleNotFoundError:  # Python 3.10: the one flat table, read by hand
        section = re.search(r"^\[tool\.setuptools\.package-dir\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
        pairs = re.findall(r'^"?([\w.]+)"?\s*=\s*"([^"]*)"', section.group(1) if section else "", re.M)
        found = dict(pairs)
    return dict(found) or {"reag_harness": "reag_harness"}


def ruff_line_length(root: Path) -> int:
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r"^\[tool\.ruff\][^\[]*?^line-length\s*=\s*(\d+)", text, re.M | re.S)
    return int(found.group(1)) if found else 88


@dataclass
class Layout:
    """Dotted names <-> repository paths, with the package-dir mapping (plugins/ is ``reag_harness.plugins``)."""

    root: Path
    tracked: list[str]
    pkg_dirs: dict[str, str] = field(default_factory=dict)

    def base_path(self, module: str) -> str:
        """Where ``module`` lives, without the ``.py``: ``reag_harness.plugins.x`` -> ``plugins/x``."""
        for pkg in sorted(self.pkg_dirs, key=len, reverse=True):
            if module == pkg or module.startswith(pkg + "."):
                rest = module[len(pkg):].lstrip(".").replace(".", "/")
                return str(PurePosixPath(self.pkg_dirs[pkg], rest)) if rest else self.pkg_dirs[pkg]
        return module.replace(".", "/")

    def module_of(self, path: str) -> str | None:
        """The dotted module of a tracked ``.py`` file (``__init__.py`` -> its package), None for other files."""
        if not path.endswith(".py"):
            return None
        parts = list(PurePosixPath(path).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        as_path = "/".join(parts)
        for pkg, folder in sorted(self.pkg_dirs.items(), key=lambda kv: len(kv[1]), reverse=True):
            if as_path == folder or as_path.startswith(folder + "/"):
                rest = as_path[len(folder):].strip("/")
                return f"{pkg}.{rest.replace('/', '.')}" if rest else pkg
        return ".".join(parts)

    def in_scope(self, path: str) -> bool:
        """The files to rewrite: SCOPE_DIRS, SCOPE_FILES, and the package-dir folders that hold code (not data)."""
        if not hasattr(self, "_code_dirs"):
            code = {t.split("/", 1)[0] for t in self.tracked if t.endswith(".py") and not t.endswith("__init__.py")}
            self._code_dirs = {f.split("/", 1)[0] for f in self.pkg_dirs.values()} & code
        top = path.split("/", 1)[0]
        return path in SCOPE_FILES or top in SCOPE_DIRS or top in self._code_dirs


@dataclass
class Move:
    old: str  # dotted
    new: str
    old_path: str  # file (x.py) or folder
    new_path: str
    is_dir: bool
    line: int


def parse_mapping(text: str, name: str = "mapping") -> list[tuple[str, str, int]]:
    """``old -> new`` lines (``#`` comments, blank lines skipped), each name a dotted identifier."""
    out, seen = [], {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        old, arrow, new = (s.strip() for s in line.partition("->"))
        if not arrow or not DOTTED.match(old) or not DOTTED.match(new):
            raise PlanError(f"{name}:{number}: expected 'old.dotted.module -> new.dotted.module', got {raw!r}")
        if old in seen:
            raise PlanError(f"{name}:{number}: {old} is mapped twice (first on line {seen[old]})")
        if old == new:
            raise PlanError(f"{name}:{number}: {old} maps to itself")
        seen[old] = number
        out.append((old, new, number))
    if not out:
        raise PlanError(f"{name}: no 'old -> new' line")
    return out


def longest(prefixes: dict[str, str], name: str, sep: str) -> str:
    """``name`` with its longest mapped prefix replaced (whole components only); unchanged when none applies."""
    parts = name.split(sep)
    for cut in range(len(parts), 0, -1):
        head = sep.join(parts[:cut])
        if head in prefixes:
            return sep.join([prefixes[head], *parts[cut:]])
    return name


@dataclass
class Plan:
    layout: Layout
    moves: list[Move]
    files: dict[str, str]  # every tracked file: old path -> new path
    new_inits: list[str]  # __init__.py files to create (new package folders)
    line_length: int = 120  # ruff's, to flag lines the rewrite made too long

    def map_module(self, name: str) -> str:
        return longest({m.old: m.new for m in self.moves}, name, ".")

    def map_path(self, path: str) -> str:
        return longest({m.old_path: m.new_path for m in self.moves}, path, "/")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def build_plan(root: Path, mapping: list[tuple[str, str, int]], name: str = "mapping") -> Plan:
    """Resolve every mapping line against the tracked files and check the result can exist; raises PlanError."""
    tracked = git(root, "ls-files", "-z").split("\0")
    layout = Layout(root, [t for t in tracked if t], package_dirs(root))
    files = set(layout.tracked)
    dirs = {str(p) for t in files for p in PurePosixPath(t).parents if str(p) != "."}
    moves = []
    for old, new, number in mapping:
        base = layout.base_path(old)
        if base + ".py" in files:
            old_path, is_dir = base + ".py", False
        elif base in dirs:
            old_path, is_dir = base, True
        else:
            raise PlanError(f"{name}:{number}: {old} is neither {base}.py nor a folder {base}/ with tracked files"
                            " (already moved? the tool runs once per mapping)")
        new_base = layout.base_path(new)
        moves.append(Move(old, new, old_path, new_base if is_dir else new_base + ".py", is_dir, number))
    plan = Plan(layout, moves, {}, [], ruff_line_length(root))
    plan.files = {f: plan.map_path(f) for f in layout.tracked}
    _check(plan, name)
    plan.new_inits = _new_inits(plan)
    return plan


def _check(plan: Plan, name: str) -> None:
    old_dirs = [m.old_path for m in plan.moves if m.is_dir]
    staying = {f for f, to in plan.files.items() if f == to}
    for m in plan.moves:
        if m.new_path in staying or any(f.startswith(m.new_path + "/") for f in staying):
            raise PlanError(f"{name}:{m.line}: {m.new} ({m.new_path}) already exists")
        for d in old_dirs:
            inside = (m.new_path + "/").startswith(d + "/") and not (m.old_path + "/").startswith(d + "/")
            if d != m.old_path and inside:
                raise PlanError(f"{name}:{m.line}: {m.new_path} lies inside {d}/, which moves itself; "
                                "name its destination in the new layout instead")
    final = list(plan.files.values())
    if len(set(final)) != len(final):
        dup = sorted({p for p in final if final.count(p) > 1})
        raise PlanError(f"{name}: two files would land on the same path: {', '.join(dup[:5])}")
    final_set = set(final)
    final_dirs = {str(p) for t in final for p in PurePosixPath(t).parents if str(p) != "."}
    for d in sorted(final_dirs):
        if d + ".py" in final_set:
            hint = next((m for m in plan.moves if m.new_path.startswith(d + "/")), None)
            line = f"{name}:{hint.line}: " if hint else f"{name}: "
            raise PlanError(f"{line}{d}.py and the package {d}/ would both exist (Python imports only one); "
                            f"move {d}.py into the package too (e.g. {d}.py -> {d}/board.py)")


def _new_inits(plan: Plan) -> list[str]:
    """``__init__.py`` for each folder the move creates that will hold Python modules and has none."""
    final = set(plan.files.values())
    before = {str(p) for t in plan.files for p in PurePosixPath(t).parents}
    roots = set(plan.layout.pkg_dirs.values())
    wanted = set()
    for m in plan.moves:
        if not (m.is_dir or m.new_path.endswith(".py")):
            continue
        for parent in PurePosixPath(m.new_path).parents:
            p = str(parent)
            if p == "." or p in roots or p in before:
                break
            wanted.add(p + "/__init__.py")
    return sorted(w for w in wanted if w not in final)
