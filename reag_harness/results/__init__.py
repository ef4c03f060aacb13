"""Results: the run folder's files (results.json, samples.jsonl, passage texts), scoring, compare, report,
the viewer, merging shards, and W&B tracking.

Imports plugins' task metrics, data, models and the core; the pipeline (which writes run folders),
the leaderboard, the API and the CLI import it. The result records are re-exported here
(``from reag_harness.results import RunResults``, as before the restructure).
"""

from .run_results import (
    RESULTS_FIELDS,
    RESULTS_SCHEMA_VERSION,
    SAMPLE_LOG_FIELDS,
    ComponentInfo,
    PassageLog,
    RunResults,
    SampleLog,
    StageTiming,
)

__all__ = ["RESULTS_FIELDS", "RESULTS_SCHEMA_VERSION", "SAMPLE_LOG_FIELDS", "ComponentInfo", "PassageLog",
           "RunResults", "SampleLog", "StageTiming"]
