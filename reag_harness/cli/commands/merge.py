"""``reag-eval merge SHARD_DIR... --output-dir DIR``: one run from its shards (:mod:`reag_harness.results.shard_merge`).

Like ``run --output-dir DIR``, the merged run gets its own folder inside DIR: the shards' folder name
with ``__shardIofN`` replaced by ``__merged`` (``demo__hf-llm__1a2b3c4d5e__merged``); its run id is that
name plus the merge's time, as a run's is.
Nothing is destroyed: the merged run folder may not be (or lie inside) a shard folder it reads, and
it may hold only an earlier merge's files (re-merging after re-running a shard replaces them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...results.shard_merge import merge_runs


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", help="run folders of the shards (each with results.json)")
    parser.add_argument("--output-dir", required=True,
                        help="folder for the merged run's folder (DIR/<run id>__merged, as run --output-dir)")
    parser.add_argument("--leaderboard", help="leaderboard JSON to append the merged run to")
    parser.add_argument("--no-leaderboard", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ...results.report import print_summary

    merged = merge_runs([Path(s) for s in args.shards], Path(args.output_dir), subfolder=True)
    if not args.no_leaderboard:
        from ...leaderboard.board import record_run

        record_run(merged, args.leaderboard, run_dir=merged.config["run_dir"])
    print_summary(merged, sys.stdout)
    return 0
