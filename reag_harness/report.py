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


def print_summary(results: RunResults, out: TextIO) -> None:
    comps = results.components
    out.write(f"\nTask {results.task} ({results.n} samples, device {results.device})\n")
    for kind in ("retriever", "critic", "generator", "prompt_style"):
        c = comps[kind]
        args = ",".join(f"{k}={v}" for k, v in c.args.items())
        out.write(f"  {kind:<13} {c.name}{'  [' + args + ']' if args else ''}\n")
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
    folder = results.config.get("output_dir", "runs")
    out.write(f"\n  run id {results.run_id} (folder under {folder}/)\n")
