"""One run from its shards: the merged folder's name and safety checks, then samples re-aggregated by the task.

The merged run gets its own folder: the shards' folder name with ``__shardIofN`` replaced by
``__merged`` (``demo__hf-llm__1a2b3c4d5e__merged``); its run id is that name plus the merge's time,
as a run's is. Nothing is destroyed: the merged run folder may not be (or lie inside) a shard
folder it reads, and it may hold only an earlier merge's files (re-merging after re-running a
shard replaces them). Used by ``reag-eval merge`` and by distributed :func:`reag_harness.api.evaluate`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.atomic import replace_at_end, write_json_atomic
from ..core.errors import HarnessError, InputError
from .files import prepare_run_folder, unique_run_id
from .run_files import PASSAGE_TEXTS_FILE, SAMPLES_FILE

_SHARD_MARK = re.compile(r"__shard\d+of\d+")
_RUN_TIME = re.compile(r"__\d{8}T\d+-[0-9a-f]+$")  # unique_run_id's suffix
MERGE_FILES = frozenset({"results.json", SAMPLES_FILE, PASSAGE_TEXTS_FILE})
"""What a merge writes into its run folder."""


def merged_folder_name(shard_run_id: str) -> str:
    """``<task>__<generator>__<hash>__merged`` from a shard's run id (``...__shard0of2__<time>``)."""
    folder = _RUN_TIME.sub("", shard_run_id)
    merged, count = _SHARD_MARK.subn("__merged", folder)
    return merged if count else f"{folder}__merged"


def check_merge_target(output_dir: Path, shard_dirs: list[Path]) -> None:
    """Refuse a merged run folder that is (or lies inside) a shard folder read, or that holds files
    this merge did not write: anything but an earlier merge's results.json, samples.jsonl and passage texts."""
    target = output_dir.resolve()
    for d in shard_dirs:
        shard = d.resolve()
        if target == shard or shard in target.parents:
            raise HarnessError(f"merge: the output folder {output_dir} is the shard folder {d} (or inside it), "
                               "which this merge reads; choose another --output-dir")
    if not output_dir.is_dir():
        return
    names = {p.name for p in output_dir.iterdir() if not (p.name.startswith(".") and p.name.endswith(".tmp"))}
    foreign = sorted(names - MERGE_FILES)
    if not foreign and "results.json" in names:
        try:
            earlier = json.loads((output_dir / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            earlier = None
        if not (isinstance(earlier, dict) and isinstance(earlier.get("config"), dict)
                and earlier["config"].get("merged_from")):
            foreign = ["results.json (not written by a merge)"]
    elif not foreign and names:
        foreign = sorted(names) + ["(no merge's results.json)"]
    if foreign:
        raise HarnessError(f"merge: the output folder {output_dir} holds files this merge did not write: "
                           f"{', '.join(foreign)}; nothing was replaced: choose another --output-dir")


def merge_runs(shard_dirs: list[Path], output_dir: Path, subfolder: bool = False) -> Any:
    """Concatenate the shards' samples (refusing overlaps) and re-aggregate with the task's scorer.

    The merged run is written into ``output_dir``, or with ``subfolder`` into
    ``output_dir / <task>__<generator>__<hash>__merged`` (what ``reag-eval merge --output-dir`` does, like ``run``).
    """
    from ..core.config import RunConfig
    from ..core.plugin_manager import get_registry
    from ..interfaces import Runtime
    from .merge_stream import locate_rows, write_merged
    from .run_results import RunResults, StageTiming

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
    name = merged_folder_name(first.run_id)
    if subfolder:
        output_dir = output_dir / name
    check_merge_target(output_dir, shard_dirs)
    prepare_run_folder(output_dir)
    with replace_at_end(output_dir / SAMPLES_FILE) as fh, replace_at_end(output_dir / PASSAGE_TEXTS_FILE) as text_fh:
        rows = write_merged(shard_dirs, order, fh, text_fh)  # streamed: no shard is held whole
        metrics = task.aggregate(rows.samples, rows.scores)  # a failure here leaves the old files whole
    merged = RunResults(**{**first.to_json(), "components": first.components, "timings": timings})
    merged.n = len(rows.samples)
    merged.metrics = metrics
    merged.retrieval_quality = rows.quality.result(first.retrieval_quality.get("retrieval") is None)
    merged.errors = {"count": errors, "by_stage": {}}
    merged.shard = None
    merged.config = {**first.config, "shard": None, "merged_from": [res.run_id for res, _ in parts],
                     "run_dir": str(output_dir.resolve())}
    merged.run_id = unique_run_id(name, datetime.now(timezone.utc))
    merged.results_file = None  # a merge writes results.json only (MERGE_FILES)
    write_json_atomic(output_dir / "results.json", merged.to_json())
    return merged
