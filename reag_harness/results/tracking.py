"""``--wandb PROJECT``: log a run to Weights & Biases (optional; nothing imports wandb unless asked).

Logged: the configuration and components, the metrics and retrieval quality as the run summary,
the per-sample table (id, question, references, answer, correct, passages kept, gold page
retrieved, error), and the run folder's files as an artifact. Without credentials
(``WANDB_API_KEY`` or a ``wandb login``), or with ``WANDB_MODE=offline``, the run is written in
wandb's offline mode under ``WANDB_DIR`` (default: the run folder) for a later ``wandb sync``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.errors import MissingDependencyError
from .report import flatten
from .run_results import RunResults

RUN_FILES = ("results.json", "samples.jsonl", "passage_texts.jsonl", "predictions.jsonl", "viewer.html")


def _has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        import netrc

        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def sample_rows(samples: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    columns = ["id", "question", "references", "answer", "correct", "passages", "kept", "gold_retrieved", "error"]
    rows = []
    for s in samples:
        gold = set((s.get("meta") or {}).get("gold_pages") or [])
        pages = {k for k, _ in s.get("retrieved_pages") or []}
        passages = s.get("passages") or []
        rows.append([s["id"], s.get("question"), " | ".join(map(str, s.get("references") or [])), s.get("answer"),
                     (s.get("score") or {}).get("correct"), len(passages), sum(bool(p.get("kept")) for p in passages),
                     bool(gold & pages) if gold else None, s.get("error")])
    return columns, rows


def require_wandb() -> Any:
    """The wandb module, or a clear error naming the extra to install (checked before the first stage)."""
    try:
        import wandb
    except ImportError as exc:
        raise MissingDependencyError("--wandb needs the wandb package: pip install 'reag-harness[tracking]'") from exc
    return wandb


def log_run(results: RunResults, project: str) -> str:
    """Log one run; returns the wandb run's local folder."""
    wandb = require_wandb()
    from .run_files import load_sample_logs

    folder = Path(results.config["run_dir"])
    mode = os.environ.get("WANDB_MODE") or ("online" if _has_credentials() else "offline")
    config = {"task": results.task, "split": results.split, "n": results.n, "seed": results.seed,
              "config_fingerprint": results.config_fingerprint,
              "components": {k: {"name": c.name, "args": c.args, "checkpoint": c.checkpoint}
                             for k, c in results.components.items()}}
    run = wandb.init(project=project, name=results.run_id, config=config, mode=mode,
                     dir=os.environ.get("WANDB_DIR") or str(folder), job_type="eval", reinit="finish_previous")
    try:
        summary = dict(flatten(results.metrics))
        summary.update({f"retrieval/{k}": v for k, v in results.retrieval_quality.items() if v is not None})
        summary["headline_metric"] = results.headline_metric
        run.summary.update(summary)
        columns, rows = sample_rows(load_sample_logs(folder))
        run.log({"samples": wandb.Table(columns=columns, data=rows)})
        artifact = wandb.Artifact(name=f"run-{folder.name}", type="reag-run")
        for name in RUN_FILES:
            if (folder / name).is_file():
                artifact.add_file(str(folder / name), name=name)
        run.log_artifact(artifact)
        return str(run.dir)
    finally:
        run.finish()
