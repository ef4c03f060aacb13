"""The runner: moves batches of records between stages. It knows nothing about models.

    Task.samples -> retrieve -> judge -> generate -> score -> results.json + samples.jsonl

Samples flow in chunks so that records reach ``samples.jsonl`` as they finish. Each stage is a
small object (:mod:`.pipeline.stage_retrieve`, ``stage_judge``, ``stage_generate``, ``stage_score``)
that the loop below calls in order on a :class:`~.pipeline.batching.BatchState`; the stages share
one :class:`~.pipeline.batching.RunContext` (components, errors, clocks) and store their records
per sample under a fingerprint of what determines them (:mod:`.store`), which gives the cache,
resume after a kill and sharding.
"""

from __future__ import annotations

import math
import os
import random
import sys
from pathlib import Path
from typing import Any

from ..core import paths
from ..core.atomic import replace_at_end
from ..core.config import RunConfig, parse_shard
from ..core.digests import looked_at_once
from ..core.errors import HarnessError
from ..core.plugin_manager import get_registry
from ..core.preflight import remote_code_notice, run_preflight
from ..core.progress import Progress
from ..interfaces import Runtime
from ..records import Sample
from ..results.files import move_foreign, new_results_path, prepare_run_folder, write_results
from ..results.run_files import PASSAGE_TEXTS_FILE, SAMPLES_FILE, PassageTextWriter
from ..results.run_identity import checkpoint_label, folder_part
from ..results.run_results import RunResults
from ..results.submission import predict_only_mode, write_submission
from .batching import BatchState, RunContext, chunks
from .collector import QuietCollector
from .components import announce_departures, critic_identity, resolve_components, resolve_device
from .inputs import record_input_errors
from .keys import stage_fingerprints
from .retrieval_gate import gate_store
from .rows import row_of
from .sample_rows import RunLog
from .stage_generate import GenerateStage
from .stage_judge import JudgeStage
from .stage_retrieve import RetrieveStage
from .stage_score import ScoreStage
from .store import StageStore, fingerprint
from .summary import run_results


class Pipeline:
    """One task with one retriever, critic, generator and prompt style."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        registry = get_registry()
        device = resolve_device(config.device)
        dtype = config.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
        self.runtime = Runtime(device=device, dtype=dtype, batch_size=config.batch_size, seed=config.seed,
                               cache_dir=str(config.cache_dir or paths.cache_dir()),
                               extra={"on_error": config.on_error})
        seed_everything(config.seed)
        self.task = registry.create("task", config.task, self.runtime, dict(config.task_args))
        self.runtime.extra["component_args"] = self.task.component_args  # composed components (chain) use it
        self.choice = resolve_components(config, self.task)
        self.runtime.extra["resolved_args"] = {k: dict(v.args) for k, v in self.choice.items()}  # e.g. a critic
        self.preset_departures = announce_departures(self.choice)
        self.components: dict[str, Any] = {}
        for kind, chosen in self.choice.items():
            self.components[kind] = registry.create(kind, chosen.name, self.runtime, dict(chosen.args))
        self.store_root = Path(config.cache_dir or paths.stage_cache_dir())
        self.shard = parse_shard(config.shard) or distributed_shard()
        self.ctx = RunContext(config, self.task, self.components, predict_only=bool(config.predict_only))
        self.image_modes: dict[str, Any] = {}
        self.kb_keys: Any = None  # the retrieve stage's check of page keys against the KB, once it runs

    # ---- configuration facts -------------------------------------------------------------
    @property
    def retriever(self) -> Any:
        return self.components["retriever"]

    @property
    def critic(self) -> Any:
        return self.components["critic"]

    @property
    def generator(self) -> Any:
        return self.components["generator"]

    @property
    def prompt_style(self) -> Any:
        return self.components["prompt_style"]

    def config_fingerprint(self) -> str:
        c = self.config
        return fingerprint(c.task, c.task_args, {k: (v.name, v.args) for k, v in self.choice.items()},
                           c.split, c.limit, c.seed)

    def select_samples(self) -> list[Sample]:
        samples = self.task.samples(self.config.split, limit_count(self.config.limit, self.task, self.config.split))
        ids = [s.id for s in samples]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise HarnessError(f"task '{self.task.name}' has duplicate sample id '{dup}'")
        if self.shard is not None:
            index, count = self.shard
            samples = samples[index::count]
        return samples

    def run_folder(self) -> Path:
        c = self.config
        label = folder_part(checkpoint_label(self.generator))
        name = f"{c.task}__{self.choice['generator'].name}__" + (f"{label}__" if label else "") + \
            self.config_fingerprint()[:10]
        if self.shard is not None:
            name += f"__shard{self.shard[0]}of{self.shard[1]}"
        if c.predict_only:
            name += "__predict"
        return Path(c.output_dir) / name

    # ---- the run ---------------------------------------------------------------------------------
    def run(self) -> RunResults:
        try:
            samples = self.select_samples()
        except HarnessError as exc:  # reported with every other problem of the run, then stop
            run_preflight(self.task, self.components, first=[f"task {self.task.name}: {exc}"])
            raise
        self.ctx.predict_only = predict_only_mode(self.config.predict_only, samples, self.task.name)
        folder = prepare_run_folder(self.run_folder(), create=False)  # a file in the way: fail before anything
        self.image_modes = record_input_errors(self.task, samples, self.ctx.errors)
        run_preflight(self.task, self.components)
        if (notice := remote_code_notice(self.choice)) and not self.config.quiet:
            print(notice, file=sys.stderr)
        prepare_run_folder(folder)
        move_foreign(folder, self.config_fingerprint())
        kb = self.task.knowledge_base()
        stages = self.stages(kb)
        progress = Progress(len(samples), disable=self.config.quiet, clocks=self.ctx.clocks)
        collector = QuietCollector()
        try:
            # Both files are written beside the old ones and replaced only when the run ends (texts first).
            with replace_at_end(folder / SAMPLES_FILE) as sample_file, \
                    replace_at_end(folder / PASSAGE_TEXTS_FILE) as text_file:
                log = RunLog(sample_file, PassageTextWriter(text_file))
                for batch in chunks(samples, self.config.chunk_size):
                    state = BatchState(batch)
                    with looked_at_once():  # each input file stat-ed once per batch, not once per stage
                        for stage in stages:
                            progress.begin(stage.name)
                            stage.run(state)
                            progress.update(stage.name, len(batch))
                    for s, score in zip(batch, state.scores):
                        log.write(*row_of(self.ctx, state, s, score))
                    text_file.flush()  # a sample line never names a text that is not on disk
                    sample_file.flush()
        finally:
            collector.close()
            progress.stop()  # a failing run leaves no heartbeat thread behind
        progress.close()
        self.kb_keys.warn()
        submission = write_submission(folder, self.task, samples, log.answers) if self.ctx.predict_only else None
        self.kb_fingerprint = kb.fingerprint()
        quality = log.quality.result(self.choice["retriever"].name != "none")  # no retrieval: recall is "–"
        results = run_results(self, samples, log.scores, quality, folder)
        if submission is not None:
            results.config["submission"] = str(submission.resolve())
        path = new_results_path(folder)
        results.results_file = path.name  # this invocation's; results.json is always the latest
        write_results(path, results.to_json())
        return results

    def stages(self, kb: Any) -> list[Any]:
        """The four stages in order, each with its store (one fingerprint per stage: :mod:`.pipeline.keys`)."""
        ctx, enabled = self.ctx, self.config.cache
        fps = stage_fingerprints(self.task.name, kb, self.retriever, critic_identity(self.critic), self.generator)
        retrieve = RetrieveStage(ctx, StageStore(self.store_root, "retrieve", fps["retrieve"], {
            "task": self.task.name, "retriever": self.retriever.identity()}, enabled), kb,
            gate_store(self.store_root, self.components, enabled))
        self.kb_keys = retrieve.kb_keys
        judge = JudgeStage(ctx, StageStore(self.store_root, "judge", fps["judge"],
                                           {"critic": critic_identity(self.critic)}, enabled))
        generate = GenerateStage(ctx, StageStore(self.store_root, "generate", fps["generate"],
                                                 {"generator": self.generator.identity()}, enabled))
        return [retrieve, judge, generate, ScoreStage(ctx)]


def limit_count(limit: int | float | None, task: Any, split: str | None) -> int | None:
    """``--limit`` as a count: a share below 1 takes that share of the split's questions, rounded up."""
    if limit is None or (isinstance(limit, int) and not isinstance(limit, bool)):
        return limit
    if float(limit) >= 1:
        return int(limit)
    return math.ceil(len(task.samples(split, None)) * float(limit))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def distributed_shard() -> tuple[int, int] | None:
    """Under torchrun/accelerate (WORLD_SIZE > 1) each rank takes a disjoint share."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return int(os.environ.get("RANK", "0")), world
