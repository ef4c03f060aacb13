"""The results table printed at the end of a run."""

from __future__ import annotations

from typing import Any, TextIO

from .run_results import RunResults


def flatten(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, name + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((name, value))
    return rows


def fold_official(rows: list[tuple[str, Any]]) -> list[tuple[str, Any, str]]:
    """``(key, value, note)``: an ``official.*`` value equal to ours is dropped and ours says so.

    ``official.final_score`` pairs with ``final_score``; ``official.unseen_entity_score.score`` with
    ``unseen_entity.score``; ``official.templated`` with ``per_type.templated``.
    Differing official values stay, on their own line.
    """
    ours = dict(rows)
    dropped: dict[str, str] = {}
    for key, value in rows:
        if not key.startswith("official."):
            continue
        head, _, tail = key[len("official."):].partition(".")
        candidates = (f"{head}.{tail}", f"{head.removesuffix('_score')}.{tail}") if tail else \
            (head, f"per_type.{head}")  # EVQA: official.templated pairs with per_type.templated
        for mine in candidates:
            if mine and mine in ours and ours[mine] == value:
                dropped[key] = mine
                break
    noted = {mine: off for off, mine in dropped.items()}
    return [(k, v, f"  (= {noted[k]})" if k in noted else "") for k, v in rows if k not in dropped]


def stage_line(t: Any) -> str:
    """``retrieve 0.64s (6 computed, 0 cached)``, or ``retrieve cached (6)`` when nothing was computed."""
    if t.n_computed == 0:
        return f"{t.stage} cached ({t.n_cached})" if t.n_cached else f"{t.stage} -"
    return f"{t.stage} {t.wall_s:.2f}s ({t.n_computed} computed, {t.n_cached} cached)"


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
        name = c.name + (f" {c.label}" if getattr(c, "label", None) and kind == "generator" else "")
        out.write(f"  {kind:<13} {component_line(name, c.args, verbose)}\n")
    rows = fold_official(flatten(results.metrics))
    width = max([len(k) for k, _, _ in rows] + [6])
    out.write(f"\n  {'metric':<{width}}  value\n  {'-' * width}  -------\n")
    for key, value, note in rows:
        mark = "  <- headline" if key == results.headline_metric else ""
        out.write(f"  {key:<{width}}  {value:g}{mark}{note}\n")
    rq = {k: v for k, v in results.retrieval_quality.items() if v is not None}
    if results.components["retriever"].name == "none":
        out.write("\n  retrieval: none (recall –)\n")
    elif rq:
        out.write("\n  retrieval: " + ", ".join(f"{k} {v}" for k, v in rq.items()) + "\n")
    out.write("  stages: " + ", ".join(stage_line(t) for t in results.timings) + "\n")
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
        kept = getattr(results, "results_file", None)
        kept_line = f"  kept as      {run_dir}/{kept} (earlier runs' results_<time>.json stay)\n" if kept else ""
        out.write(f"\n  run id {results.run_id}\n  run folder   {run_dir}\n{kept_line}  results      "
                  f"{run_dir}/results.json\n")
    else:
        out.write(f"\n  run id {results.run_id} (folder under {results.config.get('output_dir', 'runs')}/)\n")
