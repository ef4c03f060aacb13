"""The Python API: ``evaluate(task="demo", generator=..., ...)`` returns the run's results."""

from __future__ import annotations

from typing import Any

from .config import RunConfig
from .results import RunResults


def evaluate(config: RunConfig | None = None, *, leaderboard: bool = False, **options: Any) -> RunResults:
    """Run a pipeline (like lm-eval's ``simple_evaluate``) and return :class:`RunResults`.

    ``options`` are RunConfig fields (``task``, ``generator``, ``generator_args`` as a dict or
    ``"k=v,..."`` string, ``limit``, ...). Results and samples are also written to the run folder.
    """
    from .runner import Pipeline

    cfg = config or RunConfig.from_mapping(options, source="evaluate()")
    results = Pipeline(cfg).run()
    if leaderboard and not cfg.no_leaderboard:
        from .leaderboard import append_run, default_leaderboard_path

        append_run(results, cfg.leaderboard or default_leaderboard_path())
    return results
