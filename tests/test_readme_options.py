"""The README's option and subcommand lists match the parser (and run --help renders its braces once)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from reag_harness.cli.app import SUBCOMMANDS, build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _run_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def _paragraph(text: str, start: str) -> str:
    begin = text.index(start)
    end = text.find("\n\n", begin)
    return text[begin:end]


def test_readme_lists_every_run_option_and_nothing_else() -> None:
    text = README.read_text(encoding="utf-8")
    listed = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9_-]*|-v)\b", _paragraph(text, "Options of `run`:")))
    primary, aliases = set(), set()
    for action in _run_parser()._actions:
        longs = [o for o in action.option_strings if o.startswith("--") and o != "--help"]
        if not longs:
            continue
        primary.add(longs[0])
        aliases.update(longs[1:])
    primary.add("-v")
    listed.discard("--help")  # "reag-eval --help lists the subcommands"
    assert listed - aliases == primary, (sorted(primary - listed), sorted(listed - primary - aliases))
    lm_eval = _paragraph(text, "The lm-eval spellings work as aliases")
    assert all(alias in lm_eval for alias in aliases), sorted(a for a in aliases if a not in lm_eval)


def test_readme_lists_every_subcommand() -> None:
    text = README.read_text(encoding="utf-8")
    tail = text[text.index("lists the\nsubcommands:") if "lists the\nsubcommands:" in text else
                text.index("lists the subcommands:"):]
    sentence = tail[: tail.index(".\n") if ".\n" in tail else len(tail)]
    listed = re.findall(r"`([a-z]+)`", sentence)
    assert listed == list(SUBCOMMANDS)


def test_run_help_shows_single_braces() -> None:
    text = _run_parser().format_help()
    assert "k={...}" in " ".join(text.split()) and "{{" not in text
