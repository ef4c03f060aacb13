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

from ..core.errors import HarnessError

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("reag_harness.cli.commands.run", "run a pipeline on a task (the default subcommand)"),
    "ls": ("reag_harness.cli.commands.listing", "list registered tasks, retrievers, critics, generators, ..."),
    "plugins": ("reag_harness.cli.commands.plugins", "list installed plugins"),
    "score": ("reag_harness.results.scoring", "score existing predictions with the official metrics"),
    "kb": ("reag_harness.data.kb_build", "build a memory-mapped knowledge-base store"),
    "index": ("reag_harness.data.index_build", "build a FAISS index over a knowledge base"),
    "data": ("reag_harness.cli.commands.data", "fetch (data get) or check (data check) a task's data"),
    "merge": ("reag_harness.cli.commands.merge", "merge sharded runs into one"),
    "cache": ("reag_harness.cli.commands.cache", "list or clear the stage cache"),
    "leaderboard": ("reag_harness.leaderboard.board", "show, validate or render the leaderboard"),
    "compare": ("reag_harness.results.compare", "compare two runs (paired bootstrap, McNemar)"),
    "view": ("reag_harness.cli.commands.view", "write a per-sample viewer page of a run (or two runs side by side)"),
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
        # run: no abbreviations, so lmms-eval's --model is not taken for --model_args (it gets a hint instead)
        subparser = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=name != "run")
        module.configure(subparser)
        subparser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "run")
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        return unknown_options(parser, args, unknown)
    if args.version:
        from ..core.versions import harness_version

        print(harness_version())
        return 0
    from contextlib import redirect_stdout

    from ..core.terminal import TermEscaped, term_text

    try:
        with redirect_stdout(TermEscaped(sys.stdout)):  # every printed value inert (reag_harness.core.terminal)
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


LM_EVAL_HINTS = {  # lm-eval / lmms-eval options with no one-to-one counterpart here
    "--num_fewshot": "few-shot examples are a prompt-style argument (--prompt-style-args few_shot_set=...)",
    "--wandb_args": "use --wandb PROJECT",
    "--model": "the model is the generator: --generator NAME (reag-eval ls generators)",
    "--device_map": "use --device",
}


def unknown_options(parser: argparse.ArgumentParser, args: argparse.Namespace, unknown: list[str]) -> int:
    """The subcommand's usage and, per unknown option, the closest known one (exit status 2)."""
    import difflib

    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = subparsers.choices.get(getattr(args, "command", None) or "run", parser)
    known = [o for a in sub._actions for o in a.option_strings]
    lines = []
    for i, flag in enumerate(unknown):
        if not flag.startswith("-"):
            if i == 0 or not unknown[i - 1].startswith("-"):  # not the value of an unknown option
                lines.append(f"unexpected argument {flag!r}")
            continue
        name = flag.split("=")[0]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = LM_EVAL_HINTS.get(name) or (f"did you mean {close[0]}?" if close else "")
        lines.append(f"unrecognized option {name!r}" + (f"; {hint}" if hint else ""))
    sub.print_usage(sys.stderr)
    for line in lines:
        print(f"{sub.prog}: error: {line}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
