"""``reag-eval kb build``: convert a published KB JSON into a memory-mapped store (once).

Cheap to import: pyarrow, numpy and spaCy are imported only when a build runs.
"""

from __future__ import annotations

import argparse

from ..core.errors import HarnessError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kb_command", metavar="KB_COMMAND")
    build = sub.add_parser(
        "build",
        help="convert the published KB JSON into a memory-mapped store",
        description="Stream the published KB JSON (one object keyed by Wikipedia URL) into an Arrow store "
        "with O(1) lookup by URL. Passages are computed once (EVQA: sections; InfoSeek: 300-token "
        "spaCy sentence packs). Use the output folder as the task's kb= argument.",
    )
    build.add_argument("--task", required=True, choices=("evqa", "infoseek"), help="which KB format")
    build.add_argument("--input", required=True, help="the KB JSON (e.g. encyclopedic_kb_wiki.json)")
    build.add_argument("--output", required=True, help="the store folder to write")
    build.add_argument("--batch-pages", type=int, default=2048, help="pages per Arrow record batch (default 2048)")
    build.add_argument("--quiet", action="store_true", help="no progress lines")
    info = sub.add_parser("info", help="print a built store's metadata")
    info.add_argument("store", help="a store folder")


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "kb_command", None)
    if command == "build":
        if args.batch_pages < 1:
            raise HarnessError("--batch-pages must be at least 1")
        from ..core.progress import Ticker
        from .kb.build import build_store

        progress = Ticker("kb build")  # one rewritten line on a terminal, a line per 30 s in a log
        meta = build_store(args.input, args.output, args.task, batch_pages=args.batch_pages,
                           progress=None if args.quiet else progress)
        if not args.quiet:
            progress.close()
        print(
            f"built {meta['kind']} store {args.output}: {meta['n_pages']:,} pages, {meta['n_passages']:,} passages, "
            f"{meta['n_empty_pages']:,} empty pages, fingerprint {meta['fingerprint']}, {meta['build_seconds']} s"
        )
        return 0
    if command == "info":
        import json

        from .kb.store import KBStore

        print(json.dumps(KBStore(args.store).meta, indent=2))
        return 0
    raise HarnessError("usage: reag-eval kb build --task evqa|infoseek --input KB.json --output DIR")
