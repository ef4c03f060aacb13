"""``reag-eval ls [KIND]``: registered components, read from the same registry the loader uses."""

from __future__ import annotations

import argparse
import json
import sys

from ..registry import KIND_PLURALS, LIST_NAMES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", choices=sorted(LIST_NAMES.values()), help="one kind (default: all)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..plugin_manager import get_registry

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
    return f"reag-eval --task TASK --preset {name}"
