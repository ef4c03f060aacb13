"""``reag-eval ls [KIND]``: registered components, read from the same registry the loader uses."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from ...core.registry import KIND_PLURALS, LIST_NAMES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", choices=sorted(LIST_NAMES.values()), help="one kind (default: all)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ...core.plugin_manager import get_registry

    registry = get_registry()
    kinds = [KIND_PLURALS[args.kind]] if args.kind else list(LIST_NAMES)
    entries = [e for kind in kinds for e in registry.entries(kind)]
    if args.json:
        rows = [e.as_dict() | ({"config": e.factory} if e.kind == "preset" else {}) for e in entries]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for kind in kinds:
        sys.stdout.write(f"{LIST_NAMES[kind]}:\n")
        for e in registry.entries(kind):
            alias = f" (alias {', '.join(e.aliases)})" if e.aliases else ""
            origin = "" if e.distribution == "reag-harness" else f"  [plugin {e.plugin}, {e.distribution}]"
            sys.stdout.write(f"  {e.name:<28} {e.description}{alias}{origin}\n")
            if e.kind == "preset":
                sys.stdout.write(f"  {'':<28} {preset_command(e.name, e.factory)}\n")
    return 0


def preset_command(name: str, preset: dict) -> str:
    """``reag-eval --task TASK --preset NAME``, then the explicit components it stands for."""
    parts = [f"reag-eval --task TASK --preset {name}"]
    explicit = []
    for kind in ("generator", "retriever", "critic", "prompt_style"):
        if kind not in preset:
            continue
        component, args = preset[kind][0], preset[kind][1] if len(preset[kind]) > 1 else {}
        flag = kind.replace("_", "-")
        explicit.append(f"--{flag} {component}")
        if args:
            explicit.append(f"--{flag}-args {format_args(args)}")
    if explicit:
        parts.append("(= " + " ".join(explicit) + ")")
    return "  ".join(parts)


def format_args(args: dict) -> str:
    """``k=v,k2=v2`` as ``--*-args`` parses it back; JSON (shell-quoted) when a value would not survive."""
    def text(value: object) -> str | None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "none"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, str) and value and not any(c in value for c in ",= '\"") \
                and value.lower() not in ("true", "false", "yes", "no", "none", "null"):
            try:
                float(value)
            except ValueError:
                return value
        return None

    texts = {k: text(v) for k, v in args.items()}
    if all(t is not None for t in texts.values()):
        return ",".join(f"{k}={t}" for k, t in texts.items())
    return shlex.quote(json.dumps(args))
