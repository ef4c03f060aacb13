"""``reag-eval leaderboard``: append runs safely, validate, and render the leaderboard.

Two files, two kinds of rows that are never mixed:

* ``leaderboard.json``: ``{"schema_version": 1, "entries": [...]}``, one *measured* entry per run
  fingerprint (:func:`entry_from_results`, :func:`run_key`), appended by :func:`append_run` under a
  lock with an atomic write-to-temp + fsync + ``os.replace``, so concurrent runs lose nothing, a
  crash never leaves a half-written file, the file keeps its mode and no lock file stays behind.
  Appending a run whose fingerprint matches a row replaces that row: the newer run wins.
* ``published.json`` (package data ``reag_harness.leaderboard_data``, ``leaderboard/`` in the
  repository): the *reported* numbers of papers, with citation and setting (``source: "reported"``).
  A missing published file is an error in every view.

The views merge both, per task, sorted by the task's headline metric (InfoSeek: "All" = harmonic
mean of unseen question / unseen entity = ``final_score``; EVQA: single-hop; other tasks: their
``headline_metric``). Smoke runs (tiny random checkpoints) are hidden unless asked for.

Which leaderboard file (:func:`default_leaderboard_path`): ``--file`` (``--leaderboard`` for a run),
else ``$REAG_LEADERBOARD``, else the user's own ``$REAG_HARNESS_CACHE/leaderboard.json`` (by default
``~/.cache/reag_harness/leaderboard.json``), never a file of the current checkout: the repository's
``leaderboard/leaderboard.json`` is written only when named. Smoke runs (tiny random checkpoints)
are appended only when a file is named (:func:`record_run`).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import HarnessError
from .leaderboard_schema import (
    HEADLINE_COLUMN,
    LEADERBOARD_SCHEMA_VERSION,
    TASK_COLUMNS,
    validate_document,
    validate_entry,
)

REPO_LEADERBOARD_DIR = Path(__file__).resolve().parent.parent / "leaderboard"


def published_file() -> Path:
    """The reported rows, shipped as package data (read with importlib.resources)."""
    from importlib.resources import files

    try:
        return Path(str(files("reag_harness.leaderboard_data").joinpath("published.json")))
    except ModuleNotFoundError:  # an editable install made before the package-data mapping existed
        return REPO_LEADERBOARD_DIR / "published.json"


PUBLISHED_PATH = published_file()
#: Size of the standard evaluation split per task family (EVQA test, InfoSeek val).
STANDARD_SIZE = {"evqa": 5750, "infoseek": 73620}
TASK_ORDER = ("infoseek", "evqa")
COLUMN_LABELS = {
    "all": "All", "unseen_question": "UQ", "unseen_entity": "UE", "single_hop": "SH", "two_hop": "2-hop",
}
TASK_TITLES = {
    "infoseek": "InfoSeek (headline: All = harmonic mean of unseen question / unseen entity)",
    "evqa": "Encyclopedic-VQA (headline: single-hop)",
}
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
    from .paths import cache_dir

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


# --------------------------------------------------------------------------- entries


def task_family(task: str) -> str:
    """``infoseek``, ``evqa`` or the task's own name (e.g. ``demo``)."""
    t = task.lower()
    if t.startswith("infoseek"):
        return "infoseek"
    if t.startswith("evqa") or "encyclopedic" in t:
        return "evqa"
    return t


def _number(value: Any) -> float | None:
    """A metric value as a float: numbers as they are, ``{"score": x}``-like blocks by their score."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        for key in ("score", "accuracy", "value", "mean"):
            if key in value:
                return _number(value[key])
    return None


def _first(metrics: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        if key in metrics:
            return _number(metrics[key])
    return None


def _infoseek_columns(m: Mapping[str, Any]) -> dict[str, float | None]:
    """InfoSeek metrics (``tasks/infoseek/metric.py`` or the official block) -> All, UQ, UE."""
    return {
        "all": _first(m, "final_score", "all"),
        "unseen_question": _first(m, "unseen_question", "unseen_question_score"),
        "unseen_entity": _first(m, "unseen_entity", "unseen_entity_score"),
    }


def _evqa_columns(m: Mapping[str, Any]) -> dict[str, float | None]:
    """EVQA metrics -> single-hop, all, two-hop (percent, as the papers report)."""
    return {
        "single_hop": _first(m, "single_hop", "single-hop"),
        "all": _first(m, "all", "accuracy"),
        "two_hop": _first(m, "two_hop", "2_hop"),
    }


def metric_columns(task: str, metrics: Mapping[str, Any], headline_metric: str) -> tuple[dict[str, float | None], str]:
    """The leaderboard columns of a run's metrics and the name of its headline column."""
    family = task_family(task)
    if family == "infoseek":
        return _infoseek_columns(metrics), HEADLINE_COLUMN["infoseek"]
    if family == "evqa":
        return _evqa_columns(metrics), HEADLINE_COLUMN["evqa"]
    columns: dict[str, float | None] = {headline_metric: _number(metrics.get(headline_metric))}
    for key, value in metrics.items():
        counter = key == "n" or key.startswith("n_")
        if key != headline_metric and not counter and isinstance(value, (int, float)) and not isinstance(value, bool):
            columns[key] = float(value)
    return columns, headline_metric


def _coverage(results: Mapping[str, Any]) -> dict[str, Any]:
    cov = results["metrics"].get("coverage")
    n = int(results["n"])
    n_total: int | None = None
    complete: bool | None = None
    if isinstance(cov, Mapping):
        n = int(cov.get("n_predicted", cov.get("n", n)))
        total = cov.get("n_references", cov.get("n_total"))
        n_total = int(total) if total is not None else None
        complete = cov.get("complete")
    elif isinstance(cov, (int, float)) and not isinstance(cov, bool) and 0 <= cov <= 1:
        return {"n": n, "n_total": None, "fraction": float(cov), "complete": cov == 1}
    fraction = (n / n_total if n_total else None) if n_total is not None else None
    if complete is None and fraction is not None:
        complete = fraction == 1
    return {"n": n, "n_total": n_total, "fraction": fraction, "complete": complete}


def _short_args(args: Mapping[str, Any], limit: int = 48) -> str:
    parts = [f"{k}={v}" for k, v in args.items() if isinstance(v, (int, float, str, bool)) and len(str(v)) <= 24]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_tiny(component: Mapping[str, Any]) -> bool:
    """A tiny random checkpoint (built by the harness for smoke tests)."""
    text = f"{component.get('name', '')} {component.get('checkpoint') or ''}".lower().replace("\\", "/")
    return "/tiny/" in text or text.startswith("tiny") or " tiny" in text or "tiny-random" in text


def _results_dict(results: Any) -> dict[str, Any]:
    if hasattr(results, "to_json"):
        return results.to_json()
    if isinstance(results, (str, Path)):
        path = Path(results)
        path = path / "results.json" if path.is_dir() else path
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise HarnessError(f"{path}: cannot read run results ({exc})") from exc
    if isinstance(results, Mapping):
        return dict(results)
    raise TypeError(f"expected RunResults, a results dict or a run folder, got {type(results).__name__}")


def entry_from_results(results: Any) -> dict[str, Any]:
    """The measured leaderboard entry of a run (``RunResults``, its JSON dict, or a run folder)."""
    r = _results_dict(results)
    missing = [k for k in ("run_id", "task", "n", "metrics", "headline_metric", "components", "date") if k not in r]
    if missing:
        raise HarnessError(f"run results lack {', '.join(missing)}")
    from .versions import harness_version

    columns, headline = metric_columns(r["task"], r["metrics"], r["headline_metric"])
    components = {
        kind: {
            "name": c.get("name", ""),
            "args": dict(c.get("args") or {}),
            "checkpoint": c.get("checkpoint"),
            "identity": dict(c.get("identity") or {}),
            "plugin": c.get("plugin", ""),
            "distribution": c.get("distribution"),
        }
        for kind, c in r["components"].items()
    }
    gen = components.get("generator")
    generator = (gen.get("checkpoint") or gen["name"]) if gen else ""
    stages = [k for k in ("retriever", "critic") if k in components and components[k]["name"] != "none"]
    parts = [components[k]["name"] + (f"({_short_args(components[k]['args'])})" if components[k]["args"] else "")
             for k in stages]
    if "prompt_style" in components:
        parts.append(f"prompt {components['prompt_style']['name']}")
    pipeline = " + ".join(parts) if stages else " + ".join(["no retrieval", *parts])
    config = r.get("config") or {}
    system = str(config.get("system") or config.get("preset") or " + ".join(
        components[k]["name"] for k in (*stages, "generator") if k in components) or r["run_id"])
    versions = dict(r.get("versions") or {})
    hardware = {"device": str(r.get("device") or "unknown")}
    if isinstance(config.get("hardware"), Mapping):
        hardware.update({k: v for k, v in config["hardware"].items() if k != "device"})
    errors = r.get("errors") or {}
    entry: dict[str, Any] = {
        "schema_version": LEADERBOARD_SCHEMA_VERSION,
        "source": "measured",
        "run_id": str(r["run_id"]),
        "date": str(r["date"]),
        "task": str(r["task"]),
        "split": r.get("split"),
        "n": int(r["n"]),
        "coverage": _coverage(r),
        "headline": {"metric": headline, "value": columns.get(headline)},
        "metrics": columns,
        "raw_metrics": dict(r["metrics"]),
        "system": system,
        "pipeline": pipeline,
        "generator": str(generator),
        "components": components,
        "harness_version": str(versions.get("harness") or harness_version()),
        "git_hash": r.get("git_hash"),
        "config_fingerprint": str(r.get("config_fingerprint") or "unknown"),
        "hardware": hardware,
        "timings": [
            {k: t[k] for k in ("stage", "wall_s", "n_computed", "n_cached", "throughput") if k in t}
            for t in r.get("timings") or []
        ],
        "versions": versions,
        "seed": r.get("seed"),
        "errors": int(errors.get("count", 0)) if isinstance(errors, Mapping) else None,
        "deviations": [str(d) for d in r.get("deviations") or []],
        "shard": r.get("shard"),
        "smoke": bool(r.get("smoke")) or any(_is_tiny(c) for c in components.values()),
    }
    return entry


def run_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two entries the same run: task, split, n, configuration fingerprint, shard and smoke.

    One row per key: appending a run with the key of an existing row replaces that row (the newer
    run wins). Entries without a configuration fingerprint are keyed by their run id.
    """
    fp = entry.get("config_fingerprint")
    if not fp or fp == "unknown":
        return ("run", entry.get("run_id"), entry.get("task"))
    return ("config", entry.get("task"), entry.get("split"), entry.get("n"), fp, entry.get("shard"),
            bool(entry.get("smoke")))


def latest_per_run(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One entry per :func:`run_key`, the last appended (files written before the rule may hold several)."""
    last: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for e in entries:
        key = run_key(e)
        last.pop(key, None)
        last[key] = e
    return list(last.values())


def append_run(results: Any, path: str | Path | None = None, *, run_dir: str | Path | None = None) -> dict[str, Any]:
    """Append a run's measured entry to the leaderboard file; returns the entry.

    Safe for concurrent writers: a lock beside the file (removed afterwards) serialises
    read-modify-write, and the new file is written to a temp file, fsynced and moved over the old
    one with ``os.replace``, keeping the file's mode. A row with the same :func:`run_key` or run id is
    replaced. When the lock cannot be had within ``LOCK_TIMEOUT_S`` the append fails loudly, saying
    how to add the run later (``run_dir``: the run folder to name).
    """
    from .atomic import LockTimeout, exclusive_lock, remove_leftovers

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


# --------------------------------------------------------------------------- view rows


def _harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b else 0.0


def _reported_rows(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for task, cols in row["metrics"].items():
        if all(v is None for v in cols.values()):
            continue
        headline = HEADLINE_COLUMN[task]
        flags = {k.split(".", 1)[1]: v for k, v in (row.get("flags") or {}).items() if k.startswith(task + ".")}
        if task == "infoseek" and None not in (cols.get("unseen_question"), cols.get("unseen_entity"), cols.get("all")):
            hm = _harmonic(cols["unseen_question"], cols["unseen_entity"])
            if abs(hm - cols["all"]) > 0.1 and "all" not in flags:
                flags["all"] = (f"Reported All ({cols['all']}) differs from the harmonic mean of the reported "
                                f"UQ/UE ({hm:.2f}); kept as published.")
        out.append({
            "source": "reported", "id": row["id"], "task": task, "system": row["system"],
            "pipeline": row.get("pipeline", ""), "generator": row.get("generator", ""),
            "metrics": {c: cols.get(c) for c in TASK_COLUMNS[task] if c in cols},
            "headline_metric": headline, "headline": cols.get(headline),
            "citation": row["citation"], "setting": row.get("setting", ""), "notes": list(row.get("notes") or []),
            "flags": flags, "smoke": False, "comparable": bool(row.get("comparable", True)),
            "date": None, "n": None, "coverage": None,
        })
    return out


def _measured_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    family = task_family(entry["task"])
    notes = [f"measured by reag-harness {entry['harness_version']} ({entry.get('git_hash') or 'no git hash'}) "
             f"on {entry['hardware'].get('device', '?')}"]
    flags: dict[str, str] = {}
    cov = entry.get("coverage") or {}
    standard = STANDARD_SIZE.get(family)
    if cov.get("complete") is False:
        flags["n"] = f"incomplete: {cov.get('n')} of {cov.get('n_total')} samples predicted (missing count as wrong)"
    elif standard and entry["n"] < standard:
        flags["n"] = f"subset: {entry['n']} of the standard {standard} samples; not comparable with full-split numbers"
    if entry.get("smoke"):
        flags["system"] = "smoke run on tiny random checkpoints: the numbers mean nothing"
    if entry.get("deviations"):
        notes.append("deviations: " + "; ".join(entry["deviations"]))
    return {
        "source": "measured", "id": entry["run_id"], "task": family, "system": entry["system"],
        "pipeline": entry.get("pipeline", ""), "generator": entry.get("generator", ""),
        "metrics": dict(entry["metrics"]), "headline_metric": entry["headline"]["metric"],
        "headline": entry["headline"]["value"], "citation": f"run {entry['run_id']}",
        "setting": f"{entry['task']} {entry.get('split') or ''}".strip(), "notes": notes, "flags": flags,
        "smoke": bool(entry.get("smoke")), "comparable": not entry.get("smoke"),
        "date": entry.get("date"), "n": entry["n"], "coverage": cov,
    }


def _sort_key(row: Mapping[str, Any]) -> tuple:
    value = row.get("headline")
    return (not row["comparable"], value is None, -(value or 0.0), row["source"] != "measured", row["system"])


def view_rows(
    measured: Iterable[Mapping[str, Any]] = (),
    published: Iterable[Mapping[str, Any]] = (),
    *,
    task: str | None = None,
    include_smoke: bool = False,
    source: str = "all",
) -> list[dict[str, Any]]:
    """Merged per-task rows, tasks in a fixed order, each task sorted by its headline (best first)."""
    rows: list[dict[str, Any]] = []
    if source in ("all", "reported"):
        for row in published:
            rows.extend(_reported_rows(row))
    if source in ("all", "measured"):
        rows.extend(_measured_row(e) for e in latest_per_run(measured) if include_smoke or not e.get("smoke"))
    if task:
        rows = [r for r in rows if r["task"] == task_family(task)]
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    return sorted(rows, key=lambda r: (order.get(r["task"], len(order)), r["task"], *_sort_key(r)))


def _columns_of(rows: Sequence[Mapping[str, Any]], task: str) -> list[str]:
    if task in TASK_COLUMNS:
        cols = [c for c in TASK_COLUMNS[task] if any(r["metrics"].get(c) is not None for r in rows)]
        return cols or [HEADLINE_COLUMN[task]]
    cols: list[str] = []
    for r in rows:
        for c in [r["headline_metric"], *r["metrics"]]:
            if c not in cols:
                cols.append(c)
    return cols


def _by_task(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["task"], []).append(r)
    return list(groups.items())


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.1f}"


def _cell(row: Mapping[str, Any], col: str) -> str:
    return _fmt(row["metrics"].get(col)) + ("†" if col in row["flags"] else "")


def _table_data(rows: Sequence[Mapping[str, Any]], task: str) -> tuple[list[str], list[list[str]]]:
    cols = _columns_of(rows, task)
    header = ["#", "System", "Generator", "Pipeline", "Source", *[COLUMN_LABELS.get(c, c) for c in cols], "n",
              "Citation / run"]
    body = []
    for i, r in enumerate(rows, 1):
        source = r["source"] + (" (smoke)" if r["smoke"] else " (oracle)" if not r["comparable"] else "")
        n = "–" if r["n"] is None else str(r["n"]) + ("†" if "n" in r["flags"] else "")
        system = r["system"] + ("†" if "system" in r["flags"] else "")
        body.append([str(i), system, r["generator"], r["pipeline"], source, *[_cell(r, c) for c in cols], n,
                     r["citation"]])
    return header, body


def _footnotes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"† {r['system']} ({r['generator']}): {msg}" for r in rows for msg in r["flags"].values()]


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|!#~])")


def md_escape(text: Any) -> str:
    """A run field as inert Markdown text: HTML escaped, Markdown punctuation backslashed, one line."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(term_escape(" ".join(str(text).split())), quote=False))


def term_escape(text: Any) -> str:
    """A run field as inert terminal text: control characters (escape sequences, bidi marks) shown escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def render_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table per task, sorted by the headline metric; run fields are terminal-escaped."""
    blocks = []
    for task, group in _by_task(rows):
        header, body = _table_data(group, task)
        body = [[term_escape(c) for c in b] for b in body]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        widths = [min(w, 32 if i == 3 else 44) for i, w in enumerate(widths)]

        def line(cells: Sequence[str], widths: Sequence[int] = widths) -> str:
            cut = [(c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(cells, widths, strict=True)]
            return "  ".join(cut).rstrip()

        title = TASK_TITLES.get(task, f"{task} (headline: {group[0]['headline_metric']})")
        text = [term_escape(title), line([term_escape(h) for h in header]), line(["-" * w for w in widths]),
                *(line(b) for b in body), *(term_escape(n) for n in _footnotes(group))]
        blocks.append("\n".join(text))
    if not blocks:
        return "no leaderboard rows (measured runs are appended by 'reag-eval run'; smoke runs need --include-smoke)"
    return "\n\n".join(blocks)


def render_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """A Markdown table per task; run fields are escaped (no raw HTML, no Markdown markup gets through)."""
    blocks = []
    for task, group in _by_task(rows):
        header, body = _table_data(group, task)
        md = [f"### {md_escape(TASK_TITLES.get(task, task))}", "", "| " + " | ".join(map(md_escape, header)) + " |",
              "|" + "|".join("---" for _ in header) + "|"]
        md += ["| " + " | ".join(md_escape(c) for c in b) + " |" for b in body]
        notes = [md_escape(n) for n in _footnotes(group)]
        blocks.append("\n".join(md + ([""] + [f"- {n}" for n in notes] if notes else [])))
    return "\n\n".join(blocks) + "\n"


def render_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """The merged rows as JSON (``{"rows": [...]}``)."""
    return json.dumps({"schema_version": LEADERBOARD_SCHEMA_VERSION, "rows": list(rows)}, indent=2, ensure_ascii=False)


def render_html(rows: Sequence[Mapping[str, Any]], *, task: str | None = None, cautions: Sequence[str] = ()) -> str:
    """A self-contained static page (inline CSS and JS, no network).

    Rows are rendered by JS from the embedded JSON: a sortable table, filters by task and source,
    a smoke toggle, and a bar chart of the headline metric. The state lives in the URL hash, e.g.
    ``index.html#task=evqa&source=reported&sort=all&dir=asc&smoke=1``.
    """
    data = {
        "rows": list(rows),
        "columns": {t: list(c) for t, c in TASK_COLUMNS.items()},
        "labels": COLUMN_LABELS,
        "titles": TASK_TITLES,
        "default_task": task_family(task) if task else (rows[0]["task"] if rows else "infoseek"),
        "cautions": list(cautions),
    }
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    payload = payload.replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return PAGE_TEMPLATE.replace("__DATA__", payload)


# --------------------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", default="show", choices=("show", "validate", "append"),
                        help="show (default), validate the files, or append run folders")
    parser.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run folders to append (with 'append')")
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
            print(p, file=sys.stderr)
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
    rows = view_rows(load_leaderboard(path), published_doc["entries"], task=None if html else args.task,
                     include_smoke=args.include_smoke or html, source="all" if html else args.source)
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


# --------------------------------------------------------------------------- the static page

PAGE_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reag-harness leaderboard</title>
<style>
:root { --measured: #d9730d; --reported: #4a6fa5; --muted: #666; --line: #ddd; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
.sub { color: var(--muted); margin-top: 0; }
.controls { display: flex; gap: 1rem; flex-wrap: wrap; align-items: center; margin: 1rem 0; }
.controls label { display: flex; gap: .4rem; align-items: center; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { cursor: pointer; user-select: none; background: #f6f6f6; white-space: nowrap; }
th.sorted-asc::after { content: " \25B2"; font-size: .7em; } th.sorted-desc::after { content: " \25BC"; font-size: .7em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } th.num { text-align: right; }
td.headline { font-weight: 600; }
tr.src-reported td.system { color: #1d3557; }
tr.src-measured { background: #fff7ef; }
tr.smoke { opacity: .55; }
.badge { display: inline-block; font-size: .75em; padding: 0 .45em; border-radius: .6em; color: #fff; margin-left: .3em; }
.badge.reported { background: var(--reported); } .badge.measured { background: var(--measured); }
.badge.smoke { background: #999; } .badge.oracle { background: #7b2cbf; }
.flag { color: #b00020; cursor: help; }
.pipeline, .cite { color: var(--muted); font-size: .9em; }
#chart .bar-row { display: grid; grid-template-columns: 18rem 1fr 4rem; gap: .5rem; align-items: center; margin: 2px 0; }
#chart .bar-label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; text-align: right; }
#chart .bar-track { background: #f1f1f1; height: 14px; }
#chart .bar { height: 14px; } #chart .bar.reported { background: var(--reported); }
#chart .bar.measured { background: var(--measured); } #chart .bar.oracle { background: #b79ad6; }
#chart .bar-value { font-variant-numeric: tabular-nums; }
footer { margin-top: 2rem; color: var(--muted); font-size: .9em; }
</style>
</head>
<body>
<h1>reag-harness leaderboard</h1>
<p class="sub">Knowledge-based VQA with retrieval (ReAG pipeline). <span class="badge measured">measured</span>
rows were run by this harness; <span class="badge reported">reported</span> rows are numbers copied from papers,
with their citation. Click a column to sort. Rows marked † carry a caveat (hover for it).</p>
<div class="controls">
  <label>Task <select id="task"></select></label>
  <label>Source <select id="source">
    <option value="all">all</option><option value="measured">measured</option><option value="reported">reported</option>
  </select></label>
  <label><input type="checkbox" id="smoke"> show smoke runs</label>
  <span id="count"></span>
</div>
<h2 id="title"></h2>
<table id="board"><thead></thead><tbody></tbody></table>
<h2>Headline metric per system</h2>
<div id="chart"></div>
<footer id="notes"></footer>
<script type="application/json" id="lb-data">__DATA__</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("lb-data").textContent);
  var ORDER = ["infoseek", "evqa"];
  var tasks = [];
  D.rows.forEach(function (r) { if (tasks.indexOf(r.task) < 0) tasks.push(r.task); });
  tasks.sort(function (a, b) {
    var ia = ORDER.indexOf(a), ib = ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : a > b ? 1 : 0);
  });
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function readState() {
    var raw = (location.hash || "").replace(/^#/, "") || (location.search || "").replace(/^\?/, "");
    var q = new URLSearchParams(raw);
    var s = { task: q.get("task") || D.default_task, source: q.get("source") || "all",
              smoke: q.get("smoke") === "1", sort: q.get("sort") || "headline", dir: q.get("dir") || "" };
    if (tasks.indexOf(s.task) < 0 && tasks.length) s.task = tasks[0];
    if (["all", "measured", "reported"].indexOf(s.source) < 0) s.source = "all";
    return s;
  }
  var state = readState();
  function writeState() {
    var q = new URLSearchParams({ task: state.task, source: state.source, smoke: state.smoke ? "1" : "0",
                                  sort: state.sort, dir: state.dir || defaultDir(state.sort) });
    try { history.replaceState(null, "", "#" + q.toString()); } catch (e) { /* file:// in some browsers */ }
  }
  function defaultDir(col) { return ["system", "generator", "source", "citation"].indexOf(col) >= 0 ? "asc" : "desc"; }
  function columnsFor(task, rows) {
    var cols = (D.columns[task] || []).filter(function (c) {
      return rows.some(function (r) { return r.metrics[c] !== null && r.metrics[c] !== undefined; });
    });
    if (!cols.length) {
      rows.forEach(function (r) {
        [r.headline_metric].concat(Object.keys(r.metrics)).forEach(function (c) { if (cols.indexOf(c) < 0) cols.push(c); });
      });
    }
    return cols;
  }
  function value(r, col) {
    if (col === "headline") return r.headline;
    if (col === "n") return r.n;
    if (["system", "generator", "source", "citation"].indexOf(col) >= 0) return (r[col] || "").toLowerCase();
    var v = r.metrics[col];
    return v === undefined ? null : v;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "\u2013";
    return Math.abs(v - Math.round(v * 10) / 10) < 1e-9 ? v.toFixed(1) : String(Math.round(v * 100) / 100);
  }
  function visibleRows() {
    return D.rows.filter(function (r) {
      return r.task === state.task && (state.source === "all" || r.source === state.source) && (state.smoke || !r.smoke);
    });
  }
  function sorted(rows) {
    var dir = (state.dir || defaultDir(state.sort)) === "asc" ? 1 : -1;
    return rows.slice().sort(function (a, b) {
      var va = value(a, state.sort), vb = value(b, state.sort);
      if (a.comparable !== b.comparable) return a.comparable ? -1 : 1;
      if (va === null && vb === null) return a.system < b.system ? -1 : 1;
      if (va === null) return 1;
      if (vb === null) return -1;
      if (va < vb) return -dir;
      if (va > vb) return dir;
      return (a.source === "measured" ? -1 : 1) - (b.source === "measured" ? -1 : 1) || (a.system < b.system ? -1 : 1);
    });
  }
  function render() {
    var rows = sorted(visibleRows());
    var cols = columnsFor(state.task, D.rows.filter(function (r) { return r.task === state.task; }));
    var headline = D.rows.filter(function (r) { return r.task === state.task; }).map(function (r) { return r.headline_metric; })[0];
    document.getElementById("title").textContent = D.titles[state.task] || (state.task + " (headline: " + headline + ")");
    document.getElementById("count").textContent = rows.length + " rows";
    var thead = document.querySelector("#board thead"), tbody = document.querySelector("#board tbody");
    thead.innerHTML = ""; tbody.innerHTML = "";
    var head = el("tr");
    var spec = [["rank", "#"], ["system", "System"], ["generator", "Generator"], ["source", "Source"]];
    cols.forEach(function (c) { spec.push([c === headline ? "headline" : c, D.labels[c] || c, c]); });
    spec.push(["n", "n"], ["citation", "Citation / run"]);
    spec.forEach(function (s) {
      var th = el("th", { "data-col": s[0] }, s[1]);
      if (s[0] !== "system" && s[0] !== "generator" && s[0] !== "source" && s[0] !== "citation") th.className = "num";
      if (s[0] === state.sort) th.className += " sorted-" + (state.dir || defaultDir(state.sort));
      if (s[0] !== "rank") th.addEventListener("click", function () {
        state.dir = state.sort === s[0] ? ((state.dir || defaultDir(s[0])) === "asc" ? "desc" : "asc") : defaultDir(s[0]);
        state.sort = s[0]; writeState(); render();
      });
      head.appendChild(th);
    });
    thead.appendChild(head);
    rows.forEach(function (r, i) {
      var tr = el("tr", { "class": "lb-row src-" + r.source + (r.smoke ? " smoke" : ""), "data-id": r.id,
                          "data-source": r.source, "data-task": r.task, "data-system": r.system,
                          "data-headline": r.headline === null ? "" : String(r.headline) });
      var tip = (r.notes || []).concat(Object.keys(r.flags || {}).map(function (k) { return r.flags[k]; })).join("\n");
      if (tip) tr.title = tip;
      tr.appendChild(el("td", { "class": "num", "data-col": "rank" }, String(i + 1)));
      var sys = el("td", { "class": "system", "data-col": "system" }, r.system);
      if (r.flags && r.flags.system) sys.appendChild(el("span", { "class": "flag", title: r.flags.system }, "\u2020"));
      if (r.pipeline) { sys.appendChild(el("br")); sys.appendChild(el("span", { "class": "pipeline" }, r.pipeline)); }
      tr.appendChild(sys);
      tr.appendChild(el("td", { "data-col": "generator" }, r.generator));
      var src = el("td", { "data-col": "source" });
      src.appendChild(el("span", { "class": "badge " + r.source }, r.source));
      if (r.smoke) src.appendChild(el("span", { "class": "badge smoke" }, "smoke"));
      if (!r.comparable && !r.smoke) src.appendChild(el("span", { "class": "badge oracle" }, "oracle"));
      tr.appendChild(src);
      cols.forEach(function (c) {
        var td = el("td", { "class": "num" + (c === headline ? " headline" : ""), "data-col": c }, fmt(r.metrics[c]));
        if (r.flags && r.flags[c]) td.appendChild(el("span", { "class": "flag", title: r.flags[c] }, "\u2020"));
        tr.appendChild(td);
      });
      var n = el("td", { "class": "num", "data-col": "n" }, r.n === null ? "\u2013" : String(r.n));
      if (r.flags && r.flags.n) n.appendChild(el("span", { "class": "flag", title: r.flags.n }, "\u2020"));
      tr.appendChild(n);
      tr.appendChild(el("td", { "class": "cite", "data-col": "citation" }, r.citation));
      tbody.appendChild(tr);
    });
    var chart = document.getElementById("chart");
    chart.innerHTML = "";
    var withValue = rows.filter(function (r) { return r.headline !== null; });
    var max = Math.max.apply(null, [1].concat(withValue.map(function (r) { return r.headline; })));
    withValue.slice().sort(function (a, b) {
      return (a.comparable === b.comparable ? 0 : a.comparable ? -1 : 1) || b.headline - a.headline;
    }).forEach(function (r) {
      var row = el("div", { "class": "bar-row", "data-id": r.id });
      row.appendChild(el("span", { "class": "bar-label", title: r.system + " / " + r.generator }, r.system + " \u00b7 " + r.generator));
      var track = el("div", { "class": "bar-track" });
      track.appendChild(el("div", { "class": "bar " + r.source + (r.smoke ? " smoke" : r.comparable ? "" : " oracle"), style: "width:" + (100 * r.headline / max).toFixed(2) + "%" }));
      row.appendChild(track);
      row.appendChild(el("span", { "class": "bar-value" }, fmt(r.headline)));
      chart.appendChild(row);
    });
    document.getElementById("task").value = state.task;
    document.getElementById("source").value = state.source;
    document.getElementById("smoke").checked = state.smoke;
  }
  var taskSel = document.getElementById("task");
  tasks.forEach(function (t) { taskSel.appendChild(el("option", { value: t }, t)); });
  taskSel.addEventListener("change", function () { state.task = taskSel.value; state.sort = "headline"; state.dir = ""; writeState(); render(); });
  document.getElementById("source").addEventListener("change", function (e) { state.source = e.target.value; writeState(); render(); });
  document.getElementById("smoke").addEventListener("change", function (e) { state.smoke = e.target.checked; writeState(); render(); });
  window.addEventListener("hashchange", function () { state = readState(); render(); });
  var notes = document.getElementById("notes");
  (D.cautions || []).forEach(function (c) { notes.appendChild(el("p", {}, "Caution: " + c)); });
  notes.appendChild(el("p", {}, "Generated by 'reag-eval leaderboard --format html'. Reported numbers are transcribed from the papers; measured rows come from leaderboard.json."));
  render();
  document.body.setAttribute("data-rendered", "1");
})();
</script>
</body>
</html>
"""  # noqa: E501 (an embedded page)
