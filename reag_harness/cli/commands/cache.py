"""``reag-eval cache ls|clear|path``: the stage cache (retrieval, critic and generation records).

``clear`` removes only folders the store can prove it wrote (see :func:`reag_harness.pipeline.store.plan_clear`),
lists each one, and names what it refuses to touch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("ls", "clear", "path"))
    parser.add_argument("--stage", choices=("retrieve", "judge", "generate"), help="only this stage")
    parser.add_argument("--cache-dir", help="stage cache root (default $REAG_HARNESS_CACHE/stages)")
    parser.add_argument("--dry-run", action="store_true", help="with clear: list what would be removed, remove nothing")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ...core import paths
    from ...pipeline.store import clear_stores, list_stores, plan_clear

    root = Path(args.cache_dir) if args.cache_dir else paths.stage_cache_dir()
    if args.action == "path":
        print(root)
    elif args.action == "clear":
        if args.cache_dir is None and not root.exists():
            print(f"no stage cache at {root}: nothing to remove")
            return 0
        remove, refuse = plan_clear(root, args.stage)
        for path in refuse:
            print(f"left alone (not a stage-record folder written by reag-eval): {path}", file=sys.stderr)
        for path in remove:
            print(f"{'would remove' if args.dry_run else 'removing'} {path}")
        if not args.dry_run:
            clear_stores(root, args.stage)
        print(f"{'would remove' if args.dry_run else 'removed'} {len(remove)} cached stage folders under {root}"
              + (f"; left {len(refuse)} other entries alone" if refuse else ""))
    else:
        rows = [r for r in list_stores(root) if args.stage in (None, r["stage"])]
        if args.json:
            json.dump(rows, sys.stdout, indent=2, default=str)
            print()
        for r in [] if args.json else rows:
            what = {k: v for k, v in r["describe"].items() if k not in ("stage", "fingerprint")}
            print(f"{r['stage']:<9} {r['fingerprint']}  {r['records']:>7} records  {r['bytes'] / 1e6:8.2f} MB  "
                  f"{json.dumps(what, default=str)[:100]}")
    return 0
