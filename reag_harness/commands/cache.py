"""``reag-eval cache ls|clear``: the stage cache (retrieval, critic and generation records)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("ls", "clear", "path"))
    parser.add_argument("--stage", choices=("retrieve", "judge", "generate"), help="only this stage")
    parser.add_argument("--cache-dir", help="stage cache root (default $REAG_HARNESS_CACHE/stages)")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from .. import paths
    from ..store import clear_stores, list_stores

    root = Path(args.cache_dir) if args.cache_dir else paths.stage_cache_dir()
    if args.action == "path":
        print(root)
    elif args.action == "clear":
        print(f"removed {clear_stores(root, args.stage)} cached stage folders under {root}")
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
