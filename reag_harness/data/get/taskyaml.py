"""Where ``data get`` puts a task's data, and the task arguments it wrote (``DIR/TASK/task.yaml``).

A run that names no data path reads ``$REAG_DATA/TASK/task.yaml`` (default folder:
``$REAG_HARNESS_CACHE/data``, i.e. ``~/.cache/reag_harness/data``) as if given ``config=`` — so explicit
``--task-args`` still win key by key, and a run that names any path (or ``config=``) is unchanged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

# task arguments that say where the data is: naming any of them opts out of the default task.yaml
DATA_ARGS = frozenset({"config", "dataset", "queries", "images", "kb", "index", "lens", "qtypes", "references",
                       "image_map"})


def data_root() -> Path:
    """``$REAG_DATA``, else ``data/`` under the harness cache (``~/.cache/reag_harness/data``)."""
    if os.environ.get("REAG_DATA"):
        return Path(os.path.expanduser(os.environ["REAG_DATA"]))
    base = os.environ.get("REAG_HARNESS_CACHE") or str(Path.home() / ".cache" / "reag_harness")
    return Path(base) / "data"


def default_task_yaml(task: str) -> Path:
    return data_root() / task / "task.yaml"


def with_default_config(task: str, task_args: Mapping[str, Any]) -> dict[str, Any]:
    """``task_args`` plus ``config=DIR/TASK/task.yaml`` when they name no data path and that file exists."""
    args = dict(task_args)
    if any(k.replace("-", "_") in DATA_ARGS for k in args):
        return args
    path = default_task_yaml(task)
    if path.is_file():
        print(f"reag-eval: {task}: data paths from {path} (written by reag-eval data get)", file=sys.stderr)
        args["config"] = str(path)
    return args
