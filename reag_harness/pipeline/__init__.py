"""The pipeline: the runner (a short orchestrator) and one module per stage (retrieve, judge, generate, score).

Shared mechanisms live once: ``batching`` (the run context, error isolation, batched calls that
persist each model batch), ``store``/``store_index`` (the stage store: cache, resume, shards),
``keys`` (what a stored record must match), ``rows``/``sample_rows`` (streamed samples.jsonl rows).
Imports results, plugins' contracts, data, models, prompts and the core; the API and the CLI
import it, nothing below does.
"""
