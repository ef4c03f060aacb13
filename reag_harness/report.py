"""The results table printed at the end of a run."""

from __future__ import annotations

from typing import Any, TextIO

from .results import RunResults


def flatten(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, name + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((name, value))
    return rows


def component_line(name: str, args: dict[str, Any], verbose: bool = False, width: int = 100) -> str:
    """``name  [k=v,...]``: without None or empty values (all of them with ``verbose``), cut to ``width``."""
    shown = {k: v for k, v in args.items() if verbose or v not in (None, {}, [], "")}
    text = ",".join(f"{k}={v}" for k, v in shown.items())
    if not verbose and len(text) > width:
        text = text[: width - 1] + "…"
    return f"{name}{'  [' + text + ']' if text else ''}"


def print_summary(results: RunResults, out: TextIO, verbose: bool = False) -> None:
    comps = results.components
    out.write(f"\nTask {results.task} ({results.n} samples, device {results.device})\n")
    for kind in ("retriever", "critic", "generator", "prompt_style"):
        c = comps[kind]
        out.write(f"  {kind:<13} {component_line(c.name, c.args, verbose)}\n")
    rows = flatten(results.metrics)
    width = max([len(k) for k, _ in rows] + [6])
    out.write(f"\n  {'metric':<{width}}  value\n  {'-' * width}  -------\n")
    for key, value in rows:
        mark = "  <- headline" if key == results.headline_metric else ""
        out.write(f"  {key:<{width}}  {value:g}{mark}\n")
    rq = {k: v for k, v in results.retrieval_quality.items() if v is not None}
    if rq:
        out.write("\n  retrieval: " + ", ".join(f"{k} {v}" for k, v in rq.items()) + "\n")
    out.write("  stages: " + ", ".join(f"{t.stage} {t.wall_s:.2f}s ({t.n_computed} computed, {t.n_cached} cached)"
                                       for t in results.timings) + "\n")
    if results.errors["count"]:
        out.write(f"  errors: {results.errors['count']} samples failed ({results.errors['by_stage']}); "
                  "see samples.jsonl\n")
    if results.smoke:
        out.write("\n  NOTE: tiny random-weight checkpoints were used: the answers and scores are meaningless; "
                  "this run only shows the pipeline works.\n")
    if results.config.get("submission"):
        out.write(f"\n  predict-only: not scored; submission file (official format) {results.config['submission']}\n")
    run_dir = results.config.get("run_dir")
    if run_dir:
        out.write(f"\n  run id {results.run_id}\n  run folder   {run_dir}\n  results      {run_dir}/results.json\n")
    else:
        out.write(f"\n  run id {results.run_id} (folder under {results.config.get('output_dir', 'runs')}/)\n")
