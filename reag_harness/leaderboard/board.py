"""``reag-eval leaderboard``: the leaderboard files (append runs safely, validate) and the command rendering them.

Two files, two kinds of rows that are never mixed:

* ``leaderboard.json``: ``{"schema_version": 1, "entries": [...]}``, one *measured* entry per run
  fingerprint (made in :mod:`.leaderboard_entries`: :func:`entry_from_results`, :func:`run_key`),
  appended by :func:`append_run` under a lock with an atomic write-to-temp + fsync + ``os.replace``,
  so concurrent runs lose nothing, a crash never leaves a half-written file, the file keeps its mode
  and no lock file stays behind.
  Appending a run whose fingerprint matches a row replaces that row: the newer run wins.
* ``published.json`` (package data ``reag_harness.leaderboard_data``, ``leaderboard/`` in the
  repository): the *reported* numbers of papers, with citation and setting (``source: "reported"``).
  A missing published file is an error in every view.

The views (:mod:`.leaderboard_view`) merge both, per task, sorted by the task's headline metric
(InfoSeek: "All" = harmonic mean of unseen question / unseen entity = ``final_score``; EVQA:
single-hop; other tasks: their ``headline_metric``). Smoke runs (tiny random checkpoints) are hidden
unless asked for.

Which leaderboard file (:func:`default_leaderboard_path`): ``--file`` (``--leaderboard`` for a run),
else ``$REAG_LEADERBOARD``, else the user's own ``$REAG_HARNESS_CACHE/leaderboard.json`` (by default
``~/.cache/reag_harness/leaderboard.json``), never a file of the current checkout: the repository's
``leaderboard/leaderboard.json`` is written only when named. Smoke runs (tiny random checkpoints)
are appended only when a file is named (:func:`record_run`).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..core.errors import HarnessError
from ..core.terminal import term_escape
from .entries import (
    entry_from_results,
    metric_columns,  # noqa: F401 (kept as lb.metric_columns, which tests call)
    run_key,
)
from .schema import LEADERBOARD_SCHEMA_VERSION, validate_document, validate_entry
from .view import render_html, render_json, render_markdown, render_table, view_rows

REPO_LEADERBOARD_DIR = Path(__file__).resolve().parent.parent.parent / "leaderboard"


def published_file() -> Path:
    """The reported rows, shipped as package data (read with importlib.resources)."""
    from importlib.resources import files

    try:
        return Path(str(files("reag_harness.leaderboard_data").joinpath("published.json")))
    except ModuleNotFoundError:  # an editable install made before the package-data mapping existed
        return REPO_LEADERBOARD_DIR / "published.json"


PUBLISHED_PATH = published_file()
FORMATS = ("table", "markdown", "html", "json")
LOCK_TIMEOUT_S = 600.0


# --------------------------------------------------------------------------- paths and files


def default_leaderboard_path() -> Path:
    """The user's own leaderboard: ``$REAG_LEADERBOARD``, else ``$REAG_HARNESS_CACHE/leaderboard.json``.

    Never a file of the checkout around the current directory, so a run never dirties a repository.
    """
    env = os.environ.get("REAG_LEADERBOARD")
    if env:
        return Path(env).expanduser()
    from ..core.paths import cache_dir

    return cache_dir() / "leaderboard.json"


def _read_document(path: Path, *, required: bool = False) -> dict[str, Any]:
    """The leaderboard document at ``path`` (an empty one when the file does not exist, unless required)."""
    if not path.exists():
        if required:
            raise HarnessError(f"{path}: the published leaderboard rows are missing (a broken install? reinstall "
                               "reag-harness, or pass --published FILE)")
        return {"schema_version": LEADERBOARD_SCHEMA_VERSION, "entries": []}
    try:
        doc = json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"{path}: not a readable leaderboard file ({exc})") from exc
    if doc is None:
        return {"schema_version": LEADERBOARD_SCHEMA_VERSION, "entries": []}
    if isinstance(doc, list):
        return {"schema_version": LEADERBOARD_SCHEMA_VERSION, "entries": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise HarnessError(f"{path}: expected {{'schema_version', 'entries': [...]}}")
    return doc


def load_leaderboard(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The measured entries of a leaderboard file (``[]`` when it does not exist yet)."""
    return list(_read_document(Path(path) if path else default_leaderboard_path())["entries"])


def load_published(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The reported rows shipped in ``leaderboard/published.json``."""
    return list(_read_document(Path(path) if path else PUBLISHED_PATH, required=True)["entries"])


def _atomic_write_json(path: Path, doc: Any) -> None:
    """Write ``doc`` to a temp file beside ``path``, fsync it, ``os.replace`` it over ``path``, fsync the folder."""
    import tempfile

    mode = stat.S_IMODE(os.stat(path).st_mode) if path.exists() else _new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # mkstemp makes it 0600: keep the file's mode
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# --------------------------------------------------------------------------- appending


def append_run(results: Any, path: str | Path | None = None, *, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Append a run's measured entry to the leaderboard file; returns the entry.

    Safe for concurrent writers: a lock beside the file (removed afterwards) serialises
    read-modify-write, and the new file is written to a temp file, fsynced and moved over the old
    one with ``os.replace``, keeping the file's mode. A row with the same :func:`run_key` or run id is
    replaced. When the lock cannot be had within ``LOCK_TIMEOUT_S`` the append fails loudly, saying
    how to add the run later (``run_dir``: the run folder to name).
    """
    from ..core.atomic import LockTimeout, exclusive_lock, remove_leftovers

    entry = entry_from_results(results)
    problems = validate_entry(entry)
    if problems:
        raise HarnessError("invalid leaderboard entry: " + "; ".join(problems))
    target = Path(path) if path else default_leaderboard_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive_lock(target.with_name(target.name + ".lock"), LOCK_TIMEOUT_S):
            remove_leftovers(target.parent, f".{target.name}.*.tmp")  # temp files of killed appends
            doc = _read_document(target)
            key, same_run = run_key(entry), (entry["run_id"], entry["task"])
            doc["entries"] = [e for e in doc["entries"]
                              if run_key(e) != key and (e.get("run_id"), e.get("task")) != same_run] + [entry]
            doc["schema_version"] = LEADERBOARD_SCHEMA_VERSION
            _atomic_write_json(target, doc)
            if (target.parent / "index.html").is_file():
                refresh_page(target, doc["entries"])
    except LockTimeout as exc:
        later = (f"; the run is saved: add it later with 'reag-eval leaderboard append {run_dir} --file {target}'"
                 if run_dir else "")
        raise HarnessError(f"{target}: could not lock the leaderboard within {LOCK_TIMEOUT_S:.0f}s, the run was "
                           f"NOT added{later}") from exc
    return entry


def record_run(results: Any, path: str | Path | None = None, *, run_dir: str | Path | None = None,
               err: Any = None) -> dict[str, Any] | None:
    """After a run: append it to ``path`` or the user's leaderboard; a smoke run only when ``path`` is named."""
    if path is None and entry_from_results(results)["smoke"]:
        print("reag-eval: smoke run on tiny random checkpoints: not added to the leaderboard "
              "(name a file with --leaderboard FILE to add it)", file=err or sys.stderr)
        return None
    return append_run(results, path, run_dir=run_dir)


def refresh_page(board: Path, entries: Sequence[Mapping[str, Any]]) -> Path:
    """Re-render ``index.html`` beside the leaderboard file (done after every append when the page exists there,
    e.g. the repository's ``leaderboard/index.html``), so the page never goes stale."""
    page = board.parent / "index.html"
    published = _read_document(PUBLISHED_PATH, required=True)
    rows = view_rows(entries, published["entries"], include_smoke=True, page_dir=page.parent)
    tmp = page.with_name(f".{page.name}.tmp{os.getpid()}")
    tmp.write_text(render_html(rows, cautions=published.get("cautions", ())), encoding="utf-8")
    os.replace(tmp, page)
    return page


def validate_leaderboard(path: str | Path | None = None, published: str | Path | None = None) -> list[str]:
    """Problems of the leaderboard file and of the published rows, each prefixed by its file."""
    problems: list[str] = []
    for file, expect in ((Path(path) if path else default_leaderboard_path(), "measured"),
                         (Path(published) if published else PUBLISHED_PATH, "reported")):
        if not file.exists():
            if expect == "reported":
                problems.append(f"{file}: missing")
            continue
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{file}: not valid JSON ({exc})")
            continue
        problems.extend(f"{file}: {p}" for p in validate_document(doc, expect=expect))
    return problems


# --------------------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", default="show", choices=("show", "validate", "append"),
                        help="show (default), validate the files, or append run folders")
    parser.add_argument("runs", nargs="*", metavar="RUN_DIR",
                        help="run folders (or one of their results_<time>.json) to append (with 'append')")
    parser.add_argument("--task", help="only this task (infoseek, evqa, demo, ...)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--file", type=Path, default=None,
                        help="the leaderboard file (default: $REAG_LEADERBOARD, else your own "
                             "$REAG_HARNESS_CACHE/leaderboard.json, by default ~/.cache/reag_harness/leaderboard.json)")
    parser.add_argument("--published", type=Path, default=None,
                        help="reported rows (default: the published.json shipped with the harness)")
    parser.add_argument("--source", choices=("all", "measured", "reported"), default="all", help="which rows to show")
    parser.add_argument("--include-smoke", action="store_true", help="show smoke runs (tiny random checkpoints)")
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help="write the output to this file (e.g. leaderboard/index.html)")


def run(args: argparse.Namespace) -> int:
    path = args.file or default_leaderboard_path()
    if args.action == "validate":
        problems = validate_leaderboard(path, args.published)
        for p in problems:
            print(term_escape(p), file=sys.stderr)
        if problems:
            return 1
        print(f"ok: {path} ({len(load_leaderboard(path))} measured entries) and "
              f"{args.published or PUBLISHED_PATH} ({len(load_published(args.published))} reported rows)")
        return 0
    if args.action == "append":
        if not args.runs:
            raise HarnessError("'leaderboard append' needs one or more run folders")
        for run_dir in args.runs:
            entry = append_run(run_dir, path, run_dir=run_dir)
            print(f"appended {entry['run_id']} ({entry['task']}, {entry['headline']['metric']}="
                  f"{entry['headline']['value']}) to {path}")
        return 0
    if args.runs:
        raise HarnessError(f"unexpected arguments: {' '.join(args.runs)}")
    published_doc = _read_document(Path(args.published) if args.published else PUBLISHED_PATH, required=True)
    # The HTML page carries every row and filters in the browser; the other views filter here.
    html = args.format == "html"
    page_dir = (args.output.parent if args.output else Path.cwd()) if html else None
    rows = view_rows(load_leaderboard(path), published_doc["entries"], task=None if html else args.task,
                     include_smoke=args.include_smoke or html, source="all" if html else args.source,
                     page_dir=page_dir)
    if html:
        text = render_html(rows, task=args.task, cautions=published_doc.get("cautions", ()))
    else:
        text = {"table": render_table, "markdown": render_markdown, "json": render_json}[args.format](rows)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        print(f"wrote {args.output} ({len(rows)} rows)")
    else:
        print(text)
    return 0
