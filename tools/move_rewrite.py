"""The text edits of a module move: imports (absolute, relative, function-level), dotted names in strings and
prose, file paths, and ``Path(__file__)`` chains in moved modules.

Used by ``tools/move_modules.py``; stdlib only. Every function returns the new text and notes; nothing is written.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from move_plan import Plan

PATH_TOKEN = re.compile(r"(?<![\w./-])[\w*-][\w.*-]*(?:/[\w.*-]+)+/?")
FILE_CHAIN = re.compile(r"Path\(__file__\)(\.resolve\(\))?((?:\.parent)+|\.parents\[(\d+)\])")
WITH_NAME = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?\.with_name\(\s*[\"']([^\"']+)[\"']\s*\)")
JOINED = re.compile(r"([\"'])([\w.-]+)\1(?:\s*/\s*[\"'][\w.-]+[\"'])+")


@dataclass
class Result:
    text: str
    imports: int = 0  # import statements rewritten
    names: int = 0  # dotted names rewritten outside import statements (strings, attribute chains, prose)
    paths: int = 0  # file paths rewritten
    notes: list[str] = field(default_factory=list)  # things to review by hand


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _relative(target: str, package: str) -> str:
    """``target`` as a relative import spec seen from ``package`` (absolute when they share no top package)."""
    t, p = target.split("."), package.split(".")
    common = 0
    while common < min(len(t), len(p)) and t[common] == p[common]:
        common += 1
    if common == 0:
        return target
    return "." * (len(p) - common + 1) + ".".join(t[common:])


def _package(module: str, path: str) -> str:
    return module if path.endswith("__init__.py") else module.rpartition(".")[0]


def _render(spec: str, aliases: list[tuple[str, str | None]], indent: str, comment: str) -> str:
    names = [n if not a or a == n else f"{n} as {a}" for n, a in aliases]
    line = f"from {spec} import {', '.join(names)}"
    if len(indent) + len(line) + len(comment) <= 118:
        return line + comment
    body = "".join(f"\n{indent}    {n}," for n in names)
    return f"from {spec} import ({comment}{body}\n{indent})"


class _Offsets:
    """(line, utf-8 column) as given by ast -> character offset in the text."""

    def __init__(self, text: str):
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def __call__(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1] if lineno - 1 < len(self.lines) else ""
        return self.starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))


Edit = tuple[int, int, str]  # (start, end, replacement) in characters


def rewrite_imports(text: str, path: str, plan: Plan) -> tuple[list[Edit], list[tuple[int, int]], list[str]]:
    """Edits for every ``from X import ...`` (any depth), and the spans of all such statements."""
    tree = ast.parse(text)
    offset = _Offsets(text)
    old_mod = plan.layout.module_of(path) or ""
    new_mod = plan.map_module(old_mod)
    old_pkg, new_pkg = _package(old_mod, path), _package(new_mod, plan.files.get(path, path))
    edits, spans, notes = [], [], []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        start, end = offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)
        spans.append((start, end))
        if node.level:
            base_parts = old_pkg.split(".")[: len(old_pkg.split(".")) - node.level + 1]
            base_old = ".".join(base_parts + ([node.module] if node.module else []))
            old_spec = "." * node.level + (node.module or "")
        else:
            base_old = old_spec = node.module or ""
        base_new = plan.map_module(base_old)
        keep, split = [], []
        for alias in node.names:
            full = plan.map_module(f"{base_old}.{alias.name}") if alias.name != "*" else f"{base_new}.*"
            parent, _, leaf = full.rpartition(".")
            if parent == base_new and leaf == alias.name:
                keep.append((alias.name, alias.asname))
            else:
                split.append((parent, leaf, alias.asname or (alias.name if leaf != alias.name else None)))

        def spec(target: str, relative: bool = bool(node.level)) -> str:
            return _relative(target, new_pkg) if relative else target

        if not split and spec(base_new) == old_spec:
            continue
        segment = text[start:end]
        head = re.match(r"from\s+(\S+)\s+import\b", segment)
        if not split and head:
            edits.append((start + head.start(1), start + head.end(1), spec(base_new)))
            continue
        line_start = text.rfind("\n", 0, start) + 1
        indent = text[line_start:start]
        if indent.strip():
            notes.append(f"{path}:{node.lineno}: import after other code on its line; rewrite it by hand")
            continue
        trailing = re.match(r"[ \t]*#[^\n]*", text[end:])  # the comment after the statement goes with it
        if trailing:
            end, segment = end + trailing.end(), segment + trailing.group()
        comments = re.findall(r"#[^\n]*", segment)
        comment = ("  " + " ".join(comments)) if comments else ""
        statements = [_render(spec(base_new), keep, indent, comment)] if keep else []
        for parent, leaf, asname in split:  # a noqa goes with every statement, a plain comment with the first
            again = comment if "noqa" in comment or not statements else ""
            statements.append(_render(spec(parent), [(leaf, asname)], indent, again))
        edits.append((start, end, f"\n{indent}".join(statements)))
    return edits, spans, notes


def _textual_from_edits(text: str, plan: Plan, skip: list[tuple[int, int]]) -> list[Edit]:
    """``from pkg import moved_module`` outside real import statements (code in strings, docs): one line each."""
    roots = sorted({m.old.split(".")[0] for m in plan.moves})
    pattern = re.compile(rf"^([ \t]*)from[ \t]+((?:{'|'.join(map(re.escape, roots))})(?:\.\w+)*)[ \t]+import[ \t]+"
                         r"(\w+(?:[ \t]+as[ \t]+\w+)?(?:[ \t]*,[ \t]*\w+(?:[ \t]+as[ \t]+\w+)?)*)", re.M)
    edits = []
    for match in pattern.finditer(text):
        if any(s <= match.start(2) < e for s, e in skip):
            continue
        indent, base = match.group(1), match.group(2)
        keep, split = [], []
        for item in re.split(r"[ \t]*,[ \t]*", match.group(3)):
            name, _, asname = (x.strip() for x in item.partition(" as "))
            full = plan.map_module(f"{base}.{name}")
            parent, _, leaf = full.rpartition(".")
            if parent == plan.map_module(base) and leaf == name:
                keep.append((name, asname or None))
            else:
                split.append((parent, leaf, asname or (name if leaf != name else None)))
        if not split:
            continue
        parts = [_render(plan.map_module(base), keep, indent, "")] if keep else []
        parts += [_render(parent, [(leaf, asname)], indent, "") for parent, leaf, asname in split]
        edits.append((match.end(1), match.end(), f"\n{indent}".join(parts)))
    return edits


def _dotted_edits(text: str, plan: Plan, skip: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    roots = sorted({m.old.split(".")[0] for m in plan.moves})
    pattern = re.compile(rf"(?<![\w.])(?:{'|'.join(map(re.escape, roots))})(?:\.[A-Za-z_]\w*)+")
    edits = []
    for match in pattern.finditer(text):
        if any(s <= match.start() < e for s, e in skip):
            continue
        new = plan.map_module(match.group())
        if new != match.group():
            edits.append((match.start(), match.end(), new))
    return edits


def _path_edits(text: str, plan: Plan) -> list[tuple[int, int, str]]:
    roots = [r for r in plan.layout.pkg_dirs.values() if "/" not in r]
    tracked = set(plan.files)
    edits = []
    for match in PATH_TOKEN.finditer(text):
        token = match.group().rstrip("/")
        if token.split("/")[0] in roots:
            new = plan.map_path(token)
        elif token.endswith(".py"):  # package-relative (models/tiny_qwen.py): only for a tracked file
            new = token
            for root in roots:
                if f"{root}/{token}" in tracked and plan.map_path(f"{root}/{token}") != f"{root}/{token}":
                    moved = plan.map_path(f"{root}/{token}")
                    new = moved[len(root) + 1:] if moved.startswith(root + "/") else moved
                    break
        else:
            continue
        if new != token:
            edits.append((match.start(), match.start() + len(token), new))
    return edits


def _joined_edits(text: str, plan: Plan) -> list[tuple[int, int, str]]:
    """``"reag_harness" / "web" / "x.js"`` (string literals joined with ``/``) naming a moved path."""
    roots = set(plan.layout.pkg_dirs.values())
    edits = []
    for match in JOINED.finditer(text):
        parts = re.findall(r"[\"']([\w.-]+)[\"']", match.group())
        if parts[0] not in roots:
            continue
        new = plan.map_path("/".join(parts))
        if new != "/".join(parts):
            quote = match.group(1)
            edits.append((match.start(), match.end(), " / ".join(f"{quote}{p}{quote}" for p in new.split("/"))))
    return edits


def _file_chain_edits(text: str, path: str, plan: Plan) -> tuple[list[tuple[int, int, str]], list[str]]:
    """``Path(__file__).parent...`` in a moved module, re-pointed at the same folder from the new place."""
    new_path = plan.files.get(path, path)
    if new_path == path or "__file__" not in text:
        return [], []
    old_parents, new_parents = PurePosixPath(path).parents, PurePosixPath(new_path).parents
    edits, notes = [], []
    handled = set()
    for match in FILE_CHAIN.finditer(text):
        handled.add(match.start())
        k = int(match.group(3)) + 1 if match.group(3) else match.group(2).count(".parent")
        line = text.count("\n", 0, match.start()) + 1
        if k > len(old_parents):
            notes.append(f"{new_path}:{line}: Path(__file__) goes above the repository; check by hand")
            continue
        target = plan.map_path(str(old_parents[k - 1])) if str(old_parents[k - 1]) != "." else "."
        found = [i + 1 for i, p in enumerate(new_parents) if str(p) == target]
        if not found:
            notes.append(f"{new_path}:{line}: Path(__file__) pointed at {old_parents[k - 1]}/, not above the new place")
            continue
        if found[0] != k:
            chain = f".parents[{found[0] - 1}]" if match.group(3) else ".parent" * found[0]
            edits.append((match.start(2), match.end(2), chain))
            notes.append(f"{new_path}:{line}: Path(__file__) chain re-pointed at {target}/ ({k} -> {found[0]} "
                         "levels); check what it joins below")
    for match in WITH_NAME.finditer(text):
        handled.add(match.start())
        sibling = str(PurePosixPath(path).with_name(match.group(1)))
        if plan.map_path(sibling) != str(PurePosixPath(new_path).with_name(match.group(1))):
            line = text.count("\n", 0, match.start()) + 1
            notes.append(f"{new_path}:{line}: Path(__file__).with_name({match.group(1)!r}) no longer a sibling; "
                         "move it along (map it) or fix by hand")
    for match in re.finditer(r"__file__", text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        if not any(line_start <= h <= match.start() for h in handled):
            notes.append(f"{new_path}:{text.count(chr(10), 0, match.start()) + 1}: other use of __file__ in a moved "
                         "module; check by hand")
    return edits, notes


def rewrite(text: str, path: str, plan: Plan) -> Result:
    """All edits of one tracked text file (``path`` is its path before the move)."""
    result = Result(text)
    edits: list[tuple[int, int, str]] = []
    skip: list[tuple[int, int]] = []
    if path.endswith(".py"):
        try:
            imports, skip, notes = rewrite_imports(text, path, plan)
        except SyntaxError as exc:
            imports, notes = [], [f"{path}:{exc.lineno}: not parsed ({exc.msg}); imports not rewritten"]
        edits += imports
        result.imports, result.notes = len(imports), notes
        chain, notes = _file_chain_edits(text, path, plan)
        edits += chain
        result.notes += notes
        joined = _joined_edits(text, plan)
        edits += joined
        result.paths += len(joined)
    textual = _textual_from_edits(text, plan, skip)
    edits += textual
    result.imports += len(textual)
    dotted = [e for e in _dotted_edits(text, plan, skip) if not any(s <= e[0] < t for s, t, _ in textual)]
    taken = edits + dotted
    paths = [e for e in _path_edits(text, plan) if not any(s < e[1] and e[0] < t for s, t, _ in taken)]
    result.names, result.paths = len(dotted), result.paths + len(paths)
    result.text = _apply(text, taken + paths)
    if path.endswith(".py") and result.text != text:
        before = set(text.splitlines())
        for number, line in enumerate(result.text.splitlines(), 1):
            is_import = line.lstrip().startswith(("from ", "import "))  # ruff's import sorting wraps those
            if len(line) > plan.line_length and line not in before and not is_import:
                result.notes.append(f"{plan.files.get(path, path)}:{number}: now {len(line)} > {plan.line_length} "
                                    "characters; wrap it")
    return result
