"""``reag-eval merge SHARD_DIR... --output-dir DIR``: one run from its shards."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import HarnessError, InputError
from ..run_files import PASSAGE_TEXTS_FILE, SAMPLES_FILE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", help="run folders of the shards (each with results.json)")
    parser.add_argument("--output-dir", required=True, help="folder for the merged run")
    parser.add_argument("--leaderboard", help="leaderboard JSON to append the merged run to")
    parser.add_argument("--no-leaderboard", action="store_true")


def merge_runs(shard_dirs: list[Path], output_dir: Path) -> Any:
    """Concatenate the shards' samples (refusing overlaps) and re-aggregate with the task's scorer."""
    from ..config import RunConfig
    from ..interfaces import Runtime
    from ..merge_stream import locate_rows, write_merged
    from ..plugin_manager import get_registry
    from ..results import RunResults, StageTiming
    from ..runner import prepare_run_folder, replace_at_end, write_json_atomic

    parts = []
    for d in shard_dirs:
        if not (d / "results.json").exists():
            raise InputError(str(d / "results.json"), "not found: is this a finished shard's run folder?")
        parts.append((RunResults.from_json(json.loads((d / "results.json").read_text())), None))
    first = parts[0][0]
    for res, _ in parts[1:]:
        if res.config_fingerprint != first.config_fingerprint:
            raise HarnessError(f"shards differ in configuration: {res.run_id} vs {first.run_id}")
    locate_rows(shard_dirs)  # an id in two shards fails before anything is written
    cfg = RunConfig.from_mapping({k: v for k, v in first.config.items() if k not in ("resolved", "run_dir")})
    task = get_registry().create("task", cfg.task, Runtime(), dict(cfg.task_args))
    order = {s.id: i for i, s in enumerate(task.samples(cfg.split, cfg.limit))}
    timings = []
    for stage in [t.stage for t in first.timings]:
        ts = [t for res, _ in parts for t in res.timings if t.stage == stage]
        wall, comp = sum(t.wall_s for t in ts), sum(t.n_computed for t in ts)
        timings.append(
            StageTiming(
                stage,
                round(wall, 4),
                comp,
                sum(t.n_cached for t in ts),
                sum(t.items for t in ts),
                round(comp / wall, 3) if wall else 0.0,
            )
        )
    errors = sum(res.errors["count"] for res, _ in parts)
    prepare_run_folder(output_dir)
    with replace_at_end(output_dir / SAMPLES_FILE) as fh, replace_at_end(output_dir / PASSAGE_TEXTS_FILE) as text_fh:
        rows = write_merged(shard_dirs, order, fh, text_fh)  # streamed: no shard is held whole
        metrics = task.aggregate(rows.samples, rows.scores)  # a failure here leaves the old files whole
    merged = RunResults(**{**first.to_json(), "components": first.components, "timings": timings})
    merged.n = len(rows.samples)
    merged.metrics = metrics
    merged.retrieval_quality = rows.quality.result()
    merged.errors = {"count": errors, "by_stage": {}}
    merged.shard = None
    merged.config = {**first.config, "shard": None, "merged_from": [res.run_id for res, _ in parts],
                     "run_dir": str(output_dir.resolve())}
    merged.run_id = first.run_id.replace("__shard", "__merged")
    write_json_atomic(output_dir / "results.json", merged.to_json())
    return merged


def run(args: argparse.Namespace) -> int:
    from ..report import print_summary

    merged = merge_runs([Path(s) for s in args.shards], Path(args.output_dir))
    if not args.no_leaderboard:
        from ..leaderboard import record_run

        record_run(merged, args.leaderboard, run_dir=args.output_dir)
    print_summary(merged, sys.stdout)
    return 0
