"""The Python API: ``evaluate(task="demo", generator=..., ...)`` returns the run's results."""

from __future__ import annotations

from typing import Any

from .core.config import RunConfig
from .results.run_results import RunResults


def evaluate(config: RunConfig | None = None, *, leaderboard: bool = False, **options: Any) -> RunResults:
    """Run a pipeline (like lm-eval's ``simple_evaluate``) and return :class:`RunResults`.

    ``options`` are RunConfig fields (``task``, ``generator``, ``generator_args`` as a dict or
    ``"k=v,..."`` string, ``limit``, ...). Results and samples are also written to the run folder.
    """
    from .pipeline.runner import Pipeline, distributed_shard

    cfg = config or RunConfig.from_mapping(options, source="evaluate()")
    if cfg.wandb:  # fail before any stage, not after the run
        from .results.tracking import require_wandb

        require_wandb()
    if distributed_shard() is not None and not cfg.shard:
        results = evaluate_distributed(cfg)
    else:
        results = Pipeline(cfg).run()
    if leaderboard:
        append_results(results, cfg)
    track(results, cfg)
    return results


def track(results: RunResults, cfg: RunConfig) -> None:
    """Log the run to Weights & Biases when ``--wandb PROJECT`` asks for it (wandb imported only then)."""
    if cfg.wandb:
        from .results.tracking import log_run

        log_run(results, cfg.wandb)


def append_results(results: RunResults, cfg: RunConfig) -> None:
    """Record a run on the leaderboard unless told not to (predict-only runs have no scores to append)."""
    if cfg.no_leaderboard or results.metrics.get("predict_only"):
        return
    from pathlib import Path

    from .leaderboard.board import record_run

    run_dir = results.config.get("run_dir") or Path(cfg.output_dir) / results.run_id.rsplit("__", 1)[0]
    record_run(results, cfg.leaderboard, run_dir=run_dir)


def evaluate_distributed(cfg: RunConfig) -> RunResults:
    """Under torchrun/accelerate: each rank runs a disjoint share; rank 0 merges and returns the whole run.

    Ranks synchronise through torch.distributed (gloo: it works on CPU-only machines and only
    moves folder names); the records themselves go through the run folders and the stage store.
    Other ranks return their shard's results.
    """
    from pathlib import Path

    import torch.distributed as dist

    from .pipeline.runner import Pipeline
    from .results.shard_merge import merge_runs

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    pipeline = Pipeline(cfg)
    results = pipeline.run()
    folders: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(folders, str(pipeline.run_folder()))
    merged = results
    if dist.get_rank() == 0:
        first = Path(folders[0])  # type: ignore[arg-type]
        merged = merge_runs([Path(f) for f in folders], first.parent, subfolder=True)  # type: ignore[arg-type]
    dist.barrier()
    return merged
