"""``reag-eval``: argument parsing only; each subcommand lives in its own module.

A subcommand module exposes ``configure(parser)`` and ``run(args) -> int`` and must be
cheap to import (no torch, transformers or TensorFlow at module level), so that
``--help``, ``ls`` and ``plugins`` answer in about a second. A bare call means ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .errors import HarnessError

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("reag_harness.commands.run", "run a pipeline on a task (the default subcommand)"),
    "ls": ("reag_harness.commands.listing", "list registered tasks, retrievers, critics, generators, ..."),
    "plugins": ("reag_harness.commands.plugins", "list installed plugins"),
    "score": ("reag_harness.scoring", "score existing predictions with the official metrics"),
    "kb": ("reag_harness.kb_build", "build a memory-mapped knowledge-base store"),
    "index": ("reag_harness.index_build", "build a FAISS index over a knowledge base"),
    "data": ("reag_harness.commands.data", "check a task's data before a run (reag-eval data check)"),
    "merge": ("reag_harness.commands.merge", "merge sharded runs into one"),
    "cache": ("reag_harness.commands.cache", "list or clear the stage cache"),
    "leaderboard": ("reag_harness.leaderboard", "show, validate or render the leaderboard"),
    "compare": ("reag_harness.compare", "compare two runs (paired bootstrap, McNemar)"),
    "view": ("reag_harness.commands.view", "write a per-sample viewer page of a run (or two runs side by side)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reag-eval",
        description="Evaluate retrieval-augmented knowledge-based VQA pipelines (ReAG, EVQA, InfoSeek).",
        epilog="A bare 'reag-eval --task demo' means 'reag-eval run --task demo'.",
    )
    parser.add_argument("--version", action="store_true", help="print the harness version")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a subcommand not built yet
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(subparser)
        subparser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "run")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from .versions import harness_version

        print(harness_version())
        return 0
    from contextlib import redirect_stdout

    from .terminal import TermEscaped, term_text

    try:
        with redirect_stdout(TermEscaped(sys.stdout)):  # every printed value inert (reag_harness.terminal)
            return int(args._module.run(args) or 0)
    except HarnessError as exc:
        print(f"reag-eval: error: {term_text(exc)}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. `reag-eval plugins --json | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("reag-eval: interrupted; finished samples are kept, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
