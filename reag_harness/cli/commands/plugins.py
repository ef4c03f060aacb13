"""``reag-eval plugins [--json]``: loaded plugins, their components and any that failed."""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ...core.plugin_manager import broken_plugins, get_registry, plugin_infos

    registry = get_registry()
    rows = []
    for info in plugin_infos():
        components = [{"name": e.name, "kind": e.kind} for e in registry.entries() if e.plugin == info.name]
        rows.append({"name": info.name, "distribution": info.distribution, "version": info.version,
                     "hooks": info.hooks, "components": components})
    components = [e.as_dict() for e in registry.entries()]
    broken = [{"name": b.name, "distribution": b.distribution, "error": b.error} for b in broken_plugins()]
    if args.json:
        json.dump({"plugins": rows, "components": components, "broken": broken}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for row in rows:
        names = ", ".join(f"{c['kind']}:{c['name']}" for c in row["components"])
        sys.stdout.write(f"{row['name']:<24} {row['distribution'] or '-'} {row['version'] or ''}\n    {names}\n")
    for b in broken:
        sys.stdout.write(f"BROKEN {b['name']} ({b['distribution']}): {b['error']}\n")
    return 0
