#!/usr/bin/env python3
"""Move modules of the package into new folders in one scripted step, and rewrite everything that names them.

    python tools/move_modules.py MAPPING [--dry-run] [--ruff PATH_TO_RUFF] [--repo DIR]

MAPPING has one ``old.dotted.module -> new.dotted.module`` a line (``#`` starts a comment), e.g.::

    reag_harness.runner -> reag_harness.pipeline.runner
    reag_harness.kb -> reag_harness.data.kb                # a package: the whole folder moves
    reag_harness.leaderboard -> reag_harness.leaderboard.board   # a module becomes part of a package of its name

What it does, on a clean git tree only (it refuses a dirty one, so a second run cannot stack on the first):
1. ``git mv`` each module or folder; a folder the move creates gets an ``__init__.py`` with a TODO docstring.
2. Rewrites imports in every tracked .py file of reag_harness/, plugins/, tasks/, tests/, benchmarks/, examples/:
   ``from X import``, ``import X`` and relative imports (recomputed from the file's new place), at any depth
   (function-level too); ``from pkg import moved_module`` becomes ``from new_pkg import module [as old_name]``.
3. Rewrites dotted names anywhere in those files and in docs/, README.md, Makefile, .ci/, pyproject.toml,
   setup.py (mock targets, ``import_module("...")``, ``python -m ...``, entry points), and file paths
   (``reag_harness/runner.py``, ``models/tiny_qwen.py`` relative to the package, ``"reag_harness" / "web"``).
   The longest mapped prefix wins, so a module inside a moved package follows its package.
   A file containing the words "move_modules: leave this file alone" is not rewritten.
4. Re-points ``Path(__file__).parent...`` chains in moved modules at the same folder, and lists every other
   thing to check by hand (``__file__`` uses, a renamed file named by its bare name, package-data globs).
5. Stages everything (``git add``) and prints a summary; it does not commit. ``--ruff`` then runs
   ``ruff check --fix --select I`` on the changed Python files (import order after the rewrite).

Folders mapped by pyproject's ``[tool.setuptools.package-dir]`` (plugins/ is ``reag_harness.plugins``) are
resolved through that table; they stay where they are unless the mapping names them.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))
from move_plan import Plan, PlanError, build_plan, git, parse_mapping  # noqa: E402
from move_rewrite import Result, rewrite  # noqa: E402

SKIP_MARK = "move_modules: leave this file alone"  # in a file whose text is an example (the tool's own test)
PUBLIC_DOCS = ("docs/plugins.md", "examples/plugin-template/")  # what plugin authors are told to import
INIT_TEXT = '"""TODO(#25): say what lives in {name} and which layers it may import."""\n'


def _read(root: Path, path: str) -> str | None:
    try:
        return (root / path).read_text(encoding="utf-8")
    except (UnicodeDecodeError, IsADirectoryError, FileNotFoundError):
        return None


def compute(plan: Plan) -> dict[str, Result]:
    """The new text of every in-scope tracked file that changes, keyed by its path before the move."""
    out = {}
    for path in plan.layout.tracked:
        if not plan.layout.in_scope(path):
            continue
        text = _read(plan.layout.root, path)
        if text is None or SKIP_MARK in text:
            continue
        result = rewrite(text, path, plan)
        if result.text != text or result.notes:
            out[path] = result
    return out


def review_notes(plan: Plan) -> list[str]:
    """What the rewrite cannot decide: bare file names of renamed modules, package-data globs of moved folders."""
    notes = []
    renamed = {PurePosixPath(m.old_path).name: PurePosixPath(m.new_path).name for m in plan.moves
               if not m.is_dir and PurePosixPath(m.old_path).name != PurePosixPath(m.new_path).name}
    for path in plan.layout.tracked:
        text = _read(plan.layout.root, path) if plan.layout.in_scope(path) and renamed else None
        for name in renamed:
            hits = len(re.findall(rf"(?<![\w./-]){re.escape(name)}(?![\w])", text or ""))
            if hits:
                notes.append(f"{path}: names '{name}' {hits}x by its bare file name (now {renamed[name]}); left as is")
    public = "\n".join(_read(plan.layout.root, p) or "" for p in plan.layout.tracked if p.startswith(PUBLIC_DOCS))
    for m in plan.moves:
        if re.search(rf"(?<![\w.]){re.escape(m.old)}(?![\w])", public):
            notes.append(f"{m.old}: third parties are told to use it ({', '.join(PUBLIC_DOCS)}); "
                         f"a re-export at the old path keeps their plugins loading")
    pyproject = _read(plan.layout.root, "pyproject.toml") or ""
    data = re.search(r"^\[tool\.setuptools\.package-data\]\n(.*?)(?=^\[|\Z)", pyproject, re.M | re.S)
    for m in plan.moves:
        if m.is_dir and data and re.search(rf"[\"']{re.escape(PurePosixPath(m.old_path).name)}/", data.group(1)):
            notes.append(f"pyproject.toml: package-data names {PurePosixPath(m.old_path).name}/ of a moved folder")
    return notes


def apply(plan: Plan, results: dict[str, Result]) -> list[str]:
    """git mv, write the rewritten files at their new paths, create the new packages' __init__.py, git add."""
    root = plan.layout.root
    for m in sorted(plan.moves, key=lambda m: m.old_path.count("/"), reverse=True):  # inner moves first
        (root / m.new_path).parent.mkdir(parents=True, exist_ok=True)
        git(root, "mv", m.old_path, m.new_path)
    for path, result in results.items():
        (root / plan.files[path]).write_text(result.text, encoding="utf-8")
    for init in plan.new_inits:
        name = plan.layout.module_of(init) or init
        (root / init).write_text(INIT_TEXT.format(name=name), encoding="utf-8")
    removed = []
    for m in plan.moves:  # a moved folder leaves __pycache__ behind, which Python would import as a namespace
        old = root / m.old_path
        if m.is_dir and old.is_dir() and all(p.name == "__pycache__" or p.suffix == ".pyc" for p in old.rglob("*")
                                             if p.is_file() or p.name == "__pycache__"):
            subprocess.run(["rm", "-rf", "--", str(old)], check=True)
            removed.append(m.old_path)
    git(root, "add", "-A", "--", *sorted({str(PurePosixPath(p).parts[0]) for p in plan.files.values()}))
    return removed


def summary(plan: Plan, results: dict[str, Result], notes: list[str], dry: bool) -> str:
    lines = [f"{'Would move' if dry else 'Moved'} {len(plan.moves)} modules/packages "
             f"({sum(1 for f, t in plan.files.items() if f != t)} files):"]
    lines += [f"  {m.old_path} -> {m.new_path}" for m in plan.moves]
    if plan.new_inits:
        lines.append(f"New packages (__init__.py with a TODO docstring): {', '.join(plan.new_inits)}")
    count = Counter()
    for result in results.values():
        count.update(imports=result.imports, names=result.names, paths=result.paths)
    changed = sum(1 for r in results.values() if r.imports or r.names or r.paths)
    lines.append(f"Rewrote {count['imports']} import statements, {count['names']} dotted names and "
                 f"{count['paths']} file paths in {changed} files.")
    for path, result in sorted(results.items()):
        if result.imports or result.names or result.paths:
            lines.append(f"  {plan.files[path]}: {result.imports} imports, {result.names} names, {result.paths} paths")
    review = [n for r in results.values() for n in r.notes] + notes
    if review:
        lines.append(f"Check by hand ({len(review)}):")
        lines += [f"  {n}" for n in review]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mapping", type=Path, help="file of 'old.module -> new.module' lines")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository root (default: here)")
    parser.add_argument("--dry-run", action="store_true", help="print what would change; change nothing")
    parser.add_argument("--ruff", help="ruff executable: run 'ruff check --fix --select I' on the changed files")
    args = parser.parse_args(argv)
    root = Path(git(args.repo, "rev-parse", "--show-toplevel").strip())
    try:
        mapping = parse_mapping(args.mapping.read_text(encoding="utf-8"), str(args.mapping))
        dirty = git(root, "status", "--porcelain")
        if dirty and not args.dry_run:
            raise PlanError(f"{root}: the work tree is not clean (commit or stash first):\n{dirty.rstrip()}")
        plan = build_plan(root, mapping, str(args.mapping))
    except (PlanError, OSError) as exc:
        print(f"move_modules: {exc}", file=sys.stderr)
        return 2
    results = compute(plan)
    notes = review_notes(plan)
    if not args.dry_run:
        removed = apply(plan, results)
        notes += [f"{r}/: removed (only __pycache__ was left)" for r in removed]
    print(summary(plan, results, notes, args.dry_run))
    if args.ruff and not args.dry_run:
        changed = sorted({plan.files[p] for p in results if p.endswith(".py")} | set(plan.new_inits))
        subprocess.run([args.ruff, "check", "--fix", "--select", "I", "--quiet", *changed], cwd=root, check=False)
        git(root, "add", "-u")
    if not args.dry_run:
        print("Staged, not committed. Next: ruff check . ; the tests ; git commit.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
