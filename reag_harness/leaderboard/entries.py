"""Measured leaderboard entries: a run's results as an entry (columns, coverage, setting), and one entry per run.

:func:`entry_from_results` turns a run (``RunResults``, its JSON dict, or a run folder) into the
entry ``leaderboard.json`` holds; :func:`run_key` says when two entries are the same run (the newer
wins, :func:`latest_per_run`). Headline columns per task family: InfoSeek "All" = harmonic mean of
unseen question / unseen entity = ``final_score``; EVQA single-hop; other tasks their ``headline_metric``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..core.errors import HarnessError
from .schema import HEADLINE_COLUMN, LEADERBOARD_SCHEMA_VERSION, task_family
from .settings import run_extras


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


def run_preset(r: Mapping[str, Any]) -> str | None:
    """The preset a run used (``--preset``, or the generator-named one), with its departures named."""
    config = r.get("config") or {}
    resolved = config.get("resolved") or {}
    sources = [str(v.get("source", "")) for v in resolved.values() if isinstance(v, Mapping)]
    name = config.get("preset") or next((s.removeprefix("preset ") for s in sources if s.startswith("preset ")), None)
    if not name:
        return None
    swaps = [f"{d.get('kind')} {d.get('used')}" for d in r.get("preset_departures") or [] if isinstance(d, Mapping)]
    return str(name) + (f" (swapped: {', '.join(swaps)})" if swaps else "")


def generator_display(components: Mapping[str, Any]) -> str:
    from ..results.run_identity import generator_display as display

    return display(components)


def entry_from_results(results: Any) -> dict[str, Any]:
    """The measured leaderboard entry of a run (``RunResults``, its JSON dict, or a run folder)."""
    r = _results_dict(results)
    missing = [k for k in ("run_id", "task", "n", "metrics", "headline_metric", "components", "date") if k not in r]
    if missing:
        raise HarnessError(f"run results lack {', '.join(missing)}")
    from ..core.versions import harness_version

    columns, headline = metric_columns(r["task"], r["metrics"], r["headline_metric"])
    components = {
        kind: {
            "name": c.get("name", ""),
            "args": dict(c.get("args") or {}),
            "checkpoint": c.get("checkpoint"),
            "label": c.get("label"),
            "n_params": c.get("n_params"),
            "identity": dict(c.get("identity") or {}),
            "plugin": c.get("plugin", ""),
            "distribution": c.get("distribution"),
        }
        for kind, c in r["components"].items()
    }
    gen = components.get("generator")
    generator = generator_display(components) if gen and gen.get("label") else \
        (gen.get("checkpoint") or gen["name"]) if gen else ""
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
        "preset": run_preset(r),
    }
    entry.update(run_extras(results, r))
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
