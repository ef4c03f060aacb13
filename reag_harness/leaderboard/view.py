"""The leaderboard's views: merged per-task rows, and the table, Markdown, JSON and HTML renderings.

Rows come from the measured entries (``leaderboard.json``, one per run fingerprint) and the
published rows (``published.json``); each carries its setting columns and links
(:mod:`.leaderboard_settings`). The HTML page is ``web/leaderboard.html.j2`` (shared stylesheet and
script with the run viewer); run fields are escaped in every rendering.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..core.terminal import term_escape
from .entries import latest_per_run
from .schema import HEADLINE_COLUMN, LEADERBOARD_SCHEMA_VERSION, TASK_COLUMNS, task_family
from .settings import SETTING_KEYS, citation_links, measured_setting, reported_setting, run_links

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
            "date": None, "n": None, "coverage": None, "setting_columns": reported_setting(row, task),
            "links": citation_links(row["citation"]), "preset": row.get("preset"), "no_preset": row.get("no_preset"),
            "retrieval": {}, "interval": None, "provenance": dict(row.get("provenance") or {}),
        })
    return out


def _measured_row(entry: Mapping[str, Any], page_dir: Path | None = None) -> dict[str, Any]:
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
    if entry.get("nonstandard_data"):
        flags["data"] = ("non-standard data: " + ", ".join(entry["nonstandard_data"]) + " differ(s) from the "
                         "published file (checksum or row count); not comparable with published numbers")
    if entry.get("deviations"):
        notes.append("deviations: " + "; ".join(entry["deviations"]))
    no_bem = measured_no_bem(entry)
    if no_bem:
        flags["scoring"] = NO_BEM_FLAG
    return {
        "source": "measured", "id": entry["run_id"], "task": family, "system": entry["system"],
        "pipeline": entry.get("pipeline", ""), "generator": entry.get("generator", ""),
        "metrics": dict(entry["metrics"]), "headline_metric": entry["headline"]["metric"],
        "headline": entry["headline"]["value"], "citation": f"run {entry['run_id']}",
        "setting": f"{entry['task']} {entry.get('split') or ''}".strip(), "notes": notes, "flags": flags,
        "smoke": bool(entry.get("smoke")), "comparable": not entry.get("smoke"),
        "date": entry.get("date"), "n": entry["n"], "coverage": cov, "setting_columns": measured_setting(entry),
        "links": run_links(entry, page_dir), "preset": entry.get("preset") or (entry.get("config") or {}).get("preset"),
        "no_preset": None,
        "retrieval": {k: v for k, v in (entry.get("retrieval_quality") or {}).items()
                      if k.startswith("recall@") and v is not None},
        "interval": entry.get("interval"), "no_bem": no_bem,
    }


NO_BEM_FLAG = ("scored WITHOUT BEM (no_bem): the exact-match lower bound, not the official EVQA metric; "
               "ranked apart from BEM-scored rows")


def measured_no_bem(entry: Mapping[str, Any]) -> bool:
    """An EVQA run scored without BEM (``no_bem=true``): its numbers are a lower bound, not comparable."""
    from ..results.run_identity import is_no_bem

    return is_no_bem({"metrics": entry.get("raw_metrics") or {}, "components": entry.get("components") or {}})


def _sort_key(row: Mapping[str, Any]) -> tuple:
    value = row.get("headline")
    return (not row["comparable"], bool(row.get("no_bem")), value is None, -(value or 0.0),
            row["source"] != "measured", row["system"])


def view_rows(
    measured: Iterable[Mapping[str, Any]] = (),
    published: Iterable[Mapping[str, Any]] = (),
    *,
    task: str | None = None,
    include_smoke: bool = False,
    source: str = "all",
    page_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Merged per-task rows, tasks in a fixed order, each task sorted by its headline (best first).

    ``page_dir``: the folder of the page the rows go to (run links are made relative to it)."""
    rows: list[dict[str, Any]] = []
    if source in ("all", "reported"):
        for row in published:
            rows.extend(_reported_rows(row))
    if source in ("all", "measured"):
        rows.extend(_measured_row(e, page_dir) for e in latest_per_run(measured)
                    if include_smoke or not e.get("smoke"))
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
    return _fmt(row["metrics"].get(col)) + ("†" if col in row["flags"] or row.get("no_bem") else "")


def _table_data(rows: Sequence[Mapping[str, Any]], task: str) -> tuple[list[str], list[list[str]]]:
    cols = _columns_of(rows, task)
    header = ["#", "System", "Generator", "Pipeline", "Source", *[COLUMN_LABELS.get(c, c) for c in cols], "n",
              "Citation / run"]
    body = []
    for i, r in enumerate(rows, 1):
        source = r["source"] + (" (smoke)" if r["smoke"] else " (oracle)" if not r["comparable"] else "") + \
            (" (no BEM)" if r.get("no_bem") else "")
        n = "–" if r["n"] is None else str(r["n"]) + ("†" if "n" in r["flags"] else "")
        system = r["system"] + ("†" if "system" in r["flags"] or "data" in r["flags"] else "")
        body.append([str(i), system, r["generator"], r["pipeline"], source, *[_cell(r, c) for c in cols], n,
                     r["citation"]])
    return header, body


def _footnotes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"† {r['system']} ({r['generator']}): {msg}" for r in rows for msg in r["flags"].values()]


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|!#~])")


def md_escape(text: Any) -> str:
    """A run field as inert Markdown text: HTML escaped, Markdown punctuation backslashed, one line."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(term_escape(" ".join(str(text).split())), quote=False))


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
    """A self-contained static page (``web/leaderboard.html.j2``: inline CSS and JS, no network).

    Rows are rendered by JS from the embedded JSON (escaped for a script block; the script sets
    text, never HTML): a sortable table with setting columns and links, filters by task and source,
    a search box, a smoke toggle, and a bar chart of the headline metric with its axis. The state
    lives in the URL hash, e.g. ``index.html#task=evqa&source=reported&sort=all&dir=asc&smoke=1&q=qwen``.
    """
    from ..results.pages import render_page

    data = {
        "rows": list(rows),
        "columns": {t: list(c) for t, c in TASK_COLUMNS.items()},
        "labels": COLUMN_LABELS,
        "titles": TASK_TITLES,
        "setting_keys": list(SETTING_KEYS),
        "default_task": task_family(task) if task else (rows[0]["task"] if rows else "infoseek"),
        "cautions": list(cautions),
    }
    return render_page("leaderboard.html.j2", title="reag-harness leaderboard", data=data)
