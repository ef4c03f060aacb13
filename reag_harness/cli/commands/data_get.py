"""``reag-eval data get TASK``: the subcommand's options and entry point (cheap to import)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...core.errors import HarnessError


def configure(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser(
        "get", help="download, verify, unpack and build a task's data; then a run needs no paths",
        description="Fetch what TASK needs into DIR/TASK/ (resumable, verified, unpacked safely, KB store built) "
                    "and write DIR/TASK/task.yaml, which a run that names no data path reads by itself.")
    g.add_argument("task", help="task name (evqa, infoseek, or the task of --manifest)")
    g.add_argument("--dest", help="data folder (default: $REAG_DATA, else ~/.cache/reag_harness/data)")
    g.add_argument("--only", help="only these roles, comma-separated (queries, images, kb, index, ...; "
                                  "'models' fetches the hub checkpoints)")
    g.add_argument("--manifest", help="a manifest JSON replacing the shipped one (mirrors, air-gapped clusters)")
    g.add_argument("--dry-run", action="store_true",
                   help="print each file, its size, whether it is present and verified, and the disk space needed")
    g.add_argument("--remove-archives", action="store_true", help="remove each archive after a verified unpack")
    g.add_argument("--jobs", type=int, default=4, help="parallel downloads (default 4)")
    g.add_argument("--progress-interval", type=float, default=30.0,
                   help="seconds between progress lines when not on a terminal (default 30)")


def run(args: argparse.Namespace) -> int:
    from ...data.get.get import get
    from ...data.get.manifest import load_manifest
    from ...data.get.taskyaml import data_root

    if args.jobs < 1:
        raise HarnessError("--jobs must be at least 1")
    manifest = load_manifest(args.task, args.manifest)
    roles = None
    if args.only:
        roles = {r.strip() for r in args.only.split(",") if r.strip()}
        known = {e.role for e in manifest.files} | {"models"}
        unknown = sorted(roles - known)
        if unknown:
            raise HarnessError(f"--only: no role {', '.join(unknown)} in {manifest.path} "
                               f"(roles there: {', '.join(sorted(known))})")
    dest = Path(args.dest).expanduser() if args.dest else data_root()
    return get(manifest, dest, roles, dry=args.dry_run, remove_archives=args.remove_archives, jobs=args.jobs,
               out=sys.stdout, err=sys.stderr, interval_s=args.progress_interval)
