"""The runner: moves batches of records between stages. It knows nothing about models.

    Task.samples -> retrieve -> judge -> generate -> score -> results.json + samples.jsonl

Samples flow in chunks so that records reach ``samples.jsonl`` as they finish; each
stage's records are stored per sample under a fingerprint of what determines them
(:mod:`reag_harness.store`), which gives the cache, resume after a kill and sharding.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from . import paths
from .config import RunConfig, parse_shard
from .errors import HarnessError
from .interfaces import Runtime
from .plugin_manager import get_registry
from .preflight import run_preflight
from .progress import Progress
from .records import ChatRequest, Generation, Judgement, Passage, Retrieval, Sample
from .results import ComponentInfo, PassageLog, RunResults, SampleLog, StageTiming
from .retrieval_quality import retrieval_quality
from .store import StageStore, fingerprint
from .submission import predict_only_mode, write_submission
from .versions import git_hash, versions

T = TypeVar("T")
STAGE_VERSIONS = {"retrieve": "1", "judge": "1", "generate": "1"}
RUNNER_DEVIATIONS = [
    "errors are recorded per sample and scored wrong, never turned into the answer 'Error'",
]


@dataclass
class StageClock:
    wall_s: float = 0.0
    computed: int = 0
    cached: int = 0
    items: int = 0


@dataclass
class Resolved:
    """A component choice: name, merged args, and where the choice came from."""

    name: str
    args: dict[str, Any]
    source: str


def resolve_device(device: str) -> str:
    """``auto``: CUDA when present (``cuda:LOCAL_RANK`` under torchrun), else CPU."""
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    if not torch.cuda.is_available():
        return "cpu"
    local_rank = os.environ.get("LOCAL_RANK")
    return f"cuda:{local_rank}" if local_rank is not None else "cuda"


def resolve_components(config: RunConfig, task: Any) -> dict[str, Resolved]:
    """CLI names beat an explicit preset, which beats a generator-named preset, then task defaults.

    Arguments merge in the same order on top of the task's ``component_args``.
    """
    registry = get_registry()
    preset: dict[str, Any] = {}
    preset_source = ""
    if config.preset:
        preset, preset_source = registry.get("preset", config.preset).factory, f"preset {config.preset}"
    elif config.generator and ("preset", config.generator) in registry:
        chosen = [k for k in ("retriever", "critic", "prompt_style") if getattr(config, k)]
        if not chosen:
            preset, preset_source = registry.get("preset", config.generator).factory, f"preset {config.generator}"
    resolved: dict[str, Resolved] = {}
    for kind in ("retriever", "critic", "generator", "prompt_style"):
        name, args, source = getattr(config, kind), {}, "cli"
        if name is None and kind in preset:
            name, args, source = preset[kind][0], dict(preset[kind][1]), preset_source
        elif name is not None and kind in preset and preset[kind][0] == name:
            args = dict(preset[kind][1])
        if name is None and kind in task.default_components:
            default_name, default_args = task.default_components[kind]
            name, args, source = default_name, dict(default_args), f"task {task.name} default"
        if name is None:
            raise HarnessError(f"no {kind.replace('_', '-')} chosen and task '{task.name}' has no default: "
                               f"pass --{kind.replace('_', '-')}")
        name = registry.get(kind, name).name  # resolves aliases, fails with suggestions
        merged = {**task.component_args(kind, name), **args, **getattr(config, f"{kind}_args")}
        resolved[kind] = Resolved(name, merged, source)
    return resolved


def selection_rule(critic: Any) -> tuple[float | None, int | None]:
    """The critic's (threshold, top_n): applied when reading Judgements, never stored."""
    top_n = getattr(critic, "top_n", None)
    return critic.threshold, None if top_n is None else int(top_n)


def critic_active(critic: Any) -> bool:
    """A critic runs when it selects passages: by a threshold, a top_n, or both."""
    threshold, top_n = selection_rule(critic)
    return threshold is not None or top_n is not None


def sample_check(sample: Sample) -> str:
    """What a cached record of this sample must match (question and image, not references)."""
    return fingerprint(sample.id, sample.question, sample.image)


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i:i + size] for i in range(0, len(items), max(1, size))]


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
        self.choice = resolve_components(config, self.task)
        self.components: dict[str, Any] = {}
        for kind, chosen in self.choice.items():
            self.components[kind] = registry.create(kind, chosen.name, self.runtime, dict(chosen.args))
        self.store_root = Path(config.cache_dir or paths.stage_cache_dir())
        self.clocks = {s: StageClock() for s in ("retrieve", "judge", "generate", "score")}
        self.shard = parse_shard(config.shard) or distributed_shard()
        self.errors: dict[str, tuple[str, str]] = {}
        self.predict_only = bool(config.predict_only)

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

    def critic_identity(self) -> dict[str, Any]:
        """The critic's identity without its threshold: a threshold sweep reuses stored p_yes."""
        ident = json.loads(json.dumps(self.critic.identity(), default=str))
        ident.get("args", {}).pop("threshold", None)
        ident.get("args", {}).pop("top_n", None)
        return ident

    def fingerprints(self, kb: Any) -> dict[str, str]:
        fp_r = fingerprint("retrieve", STAGE_VERSIONS["retrieve"], self.task.name, kb.fingerprint(),
                           self.retriever.identity())
        fp_j = fingerprint("judge", STAGE_VERSIONS["judge"], fp_r, self.critic_identity())
        fp_g = fingerprint("generate", STAGE_VERSIONS["generate"], self.generator.identity())
        return {"retrieve": fp_r, "judge": fp_j, "generate": fp_g}

    def config_fingerprint(self) -> str:
        c = self.config
        return fingerprint(c.task, c.task_args, {k: (v.name, v.args) for k, v in self.choice.items()},
                           c.split, c.limit, c.seed)

    # ---- error isolation ------------------------------------------------------------------
    def _isolating(self, stage: str, fn: Callable[[Sequence[Any]], list[T]], items: Sequence[Any],
                   sample_of: Callable[[Any], Sample]) -> list[T | None]:
        """Run ``fn`` on a batch; with ``--on-error skip`` find and record the failing items."""
        if not items:
            return []
        try:
            return list(fn(items))
        except Exception as exc:
            if self.config.on_error != "skip":
                raise
            if len(items) == 1:
                sample = sample_of(items[0])
                self.errors[sample.id] = (stage, f"{type(exc).__name__}: {exc}")
                return [None]
            return [r for item in items for r in self._isolating(stage, fn, [item], sample_of)]

    # ---- stages -------------------------------------------------------------------------------
    def stage_retrieve(self, batch: Sequence[Sample], store: StageStore, kb: Any) -> dict[str, Retrieval]:
        clock, out = self.clocks["retrieve"], {}
        todo = []
        for s in batch:
            hit = store.get(s.id, sample_check(s))
            if hit is not None:
                out[s.id] = Retrieval.from_json(hit)
                clock.cached += 1
            else:
                todo.append(s)
        t0 = time.perf_counter()
        got = self._isolating("retrieve", lambda xs: self.retriever.retrieve(xs, kb), todo, lambda s: s)
        clock.wall_s += time.perf_counter() - t0
        new = [(s, r) for s, r in zip(todo, got) if r is not None]
        store.put_many((s.id, sample_check(s), r.to_json()) for s, r in new)
        for s, r in new:
            out[s.id] = r
            clock.computed += 1
            clock.items += len(r.passages)
        return out

    def stage_judge(self, batch: Sequence[Sample], retrievals: dict[str, Retrieval],
                    store: StageStore) -> dict[str, Judgement]:
        clock, out = self.clocks["judge"], {}
        todo = []
        for s in batch:
            r = retrievals.get(s.id)
            if r is None:
                continue
            if not critic_active(self.critic) or not r.used or not r.passages:
                out[s.id] = Judgement(s.id, None)
                continue
            hit = store.get(s.id, sample_check(s))
            if hit is not None:
                out[s.id] = Judgement.from_json(hit)
                clock.cached += 1
            else:
                todo.append(s)
        pairs = [(s, p) for s in todo for p in retrievals[s.id].passages]
        t0 = time.perf_counter()
        probs = self._isolating("judge", self.critic.p_yes, pairs, lambda pair: pair[0])
        clock.wall_s += time.perf_counter() - t0
        offset, new = 0, []
        for s in todo:
            n = len(retrievals[s.id].passages)
            values = probs[offset:offset + n]
            offset += n
            if s.id in self.errors or any(v is None for v in values):
                continue
            new.append(Judgement(s.id, tuple(float(v) for v in values)))  # type: ignore[arg-type]
        by_id = {s.id: s for s in todo}
        store.put_many((j.sample_id, sample_check(by_id[j.sample_id]), j.to_json()) for j in new)
        for j in new:
            out[j.sample_id] = j
            clock.computed += 1
            clock.items += len(j.p_yes or ())
        return out

    def kept_passages(self, r: Retrieval, j: Judgement) -> list[Passage] | None:
        """None when no retrieval was used; [] when the critic filtered everything."""
        if not r.used:
            return None
        return [r.passages[i] for i in j.kept(len(r.passages), *selection_rule(self.critic))]

    def stage_generate(self, batch: Sequence[Sample], retrievals: dict[str, Retrieval],
                       judgements: dict[str, Judgement], store: StageStore) -> dict[str, Generation]:
        clock, out = self.clocks["generate"], {}
        todo: list[tuple[Sample, ChatRequest, str]] = []
        for s in batch:
            if s.id not in judgements:
                continue
            request = self.prompt_style.build(s, self.kept_passages(retrievals[s.id], judgements[s.id]),
                                              self.task.name)
            prompt_hash = fingerprint(request.to_json())
            hit = store.get(s.id, prompt_hash)
            if hit is not None:
                out[s.id] = self._parsed(s.id, prompt_hash, hit["raw"])
                clock.cached += 1
            else:
                todo.append((s, request, prompt_hash))
        t0 = time.perf_counter()
        raws = self._isolating("generate", lambda xs: self.generator.generate([x[1] for x in xs]), todo,
                               lambda x: x[0])
        clock.wall_s += time.perf_counter() - t0
        new = [(s, h, raw) for (s, _, h), raw in zip(todo, raws) if raw is not None]
        store.put_many((s.id, h, {"raw": raw}) for s, h, raw in new)
        for s, h, raw in new:
            out[s.id] = self._parsed(s.id, h, raw)
            clock.computed += 1
        return out

    def _parsed(self, sample_id: str, prompt_hash: str, raw: str) -> Generation:
        reasoning, answer = self.prompt_style.parse(raw)
        return Generation(sample_id, prompt_hash, raw, reasoning, answer)

    # ---- the run ---------------------------------------------------------------------------------
    def select_samples(self) -> list[Sample]:
        samples = self.task.samples(self.config.split, self.config.limit)
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
        name = f"{c.task}__{self.choice['generator'].name}__{self.config_fingerprint()[:10]}"
        if self.shard is not None:
            name += f"__shard{self.shard[0]}of{self.shard[1]}"
        if c.predict_only:
            name += "__predict"
        return Path(c.output_dir) / name

    def run(self) -> RunResults:
        samples = self.select_samples()
        self.predict_only = predict_only_mode(self.config.predict_only, samples, self.task.name)
        run_preflight(self.task, self.components)
        kb = self.task.knowledge_base()
        fps = self.fingerprints(kb)
        enabled = self.config.cache
        stores = {
            "retrieve": StageStore(self.store_root, "retrieve", fps["retrieve"],
                                   {"task": self.task.name, "retriever": self.retriever.identity()}, enabled),
            "judge": StageStore(self.store_root, "judge", fps["judge"], {"critic": self.critic_identity()}, enabled),
            "generate": StageStore(self.store_root, "generate", fps["generate"],
                                   {"generator": self.generator.identity()}, enabled),
        }
        folder = self.run_folder()
        folder.mkdir(parents=True, exist_ok=True)
        logs: list[SampleLog] = []
        scores: list[dict[str, Any]] = []
        progress = Progress(len(samples), disable=self.config.quiet, clocks=self.clocks)
        with open(folder / "samples.jsonl", "w", encoding="utf-8") as sample_file:
            for batch in chunks(samples, self.config.chunk_size):
                progress.begin("retrieve")
                retrievals = self.stage_retrieve(batch, stores["retrieve"], kb)
                progress.update("retrieve", len(batch))
                progress.begin("judge")
                judgements = self.stage_judge(batch, retrievals, stores["judge"])
                progress.update("judge", len(batch))
                progress.begin("generate")
                generations = self.stage_generate(batch, retrievals, judgements, stores["generate"])
                progress.update("generate", len(batch))
                progress.begin("score")
                t0 = time.perf_counter()
                answers = [generations[s.id].answer if s.id in generations else None for s in batch]
                batch_scores = [{} for _ in batch] if self.predict_only else self.task.score(batch, answers)
                self.clocks["score"].wall_s += time.perf_counter() - t0
                self.clocks["score"].computed += len(batch)
                progress.update("score", len(batch))
                for s, score in zip(batch, batch_scores):
                    log = self.sample_log(s, retrievals.get(s.id), judgements.get(s.id), generations.get(s.id), score)
                    logs.append(log)
                    scores.append(score)
                    sample_file.write(json.dumps(log.to_json(), default=str) + "\n")
                sample_file.flush()
        progress.close()
        submission = write_submission(folder, self.task, samples, [log.answer for log in logs]) \
            if self.predict_only else None
        results = self.results(samples, scores, logs, folder)
        if submission is not None:
            results.config["submission"] = str(submission.resolve())
        write_json_atomic(folder / "results.json", results.to_json())
        return results

    def sample_log(self, s: Sample, r: Retrieval | None, j: Judgement | None, g: Generation | None,
                   score: dict[str, Any]) -> SampleLog:
        passages: list[PassageLog] = []
        if r is not None:
            kept = set(j.kept(len(r.passages), *selection_rule(self.critic))) if j is not None else set()
            p_yes = j.p_yes if j is not None and j.p_yes is not None else None
            passages = [PassageLog(p.page_key, p.index, p.text, None if p_yes is None else p_yes[i], i in kept)
                        for i, p in enumerate(r.passages)]
        error = self.errors.get(s.id)
        return SampleLog(
            id=s.id, question=s.question, image=s.image, references=list(s.references), meta=dict(s.meta),
            retrieved_pages=[list(p) for p in r.pages] if r else [],  # type: ignore[misc]
            passages=passages, raw_output=g.raw if g else None, reasoning=g.reasoning if g else None,
            answer=g.answer if g else None, score=score,
            error=f"{error[0]}: {error[1]}" if error else None,
            retrieval_info=dict(r.info) if r else {},
        )

    def results(self, samples: list[Sample], scores: list[dict[str, Any]], logs: list[SampleLog],
                folder: Path) -> RunResults:
        registry = get_registry()
        if self.predict_only:
            metrics: dict[str, Any] = {"n": len(samples), "predict_only": True}
        else:
            metrics = self.task.aggregate(samples, scores)
        components = {}
        for kind, chosen in self.choice.items():
            entry = registry.get(kind, chosen.name)
            comp = self.components[kind]
            effective = {**chosen.args, **getattr(comp, "args", {})}  # defaults the component filled in
            components[kind] = ComponentInfo(kind, chosen.name, effective, comp.identity(), entry.plugin,
                                             entry.distribution, getattr(comp, "checkpoint", None))
        task_entry = registry.get("task", self.config.task)
        components["task"] = ComponentInfo("task", self.task.name, dict(self.config.task_args),
                                           {"fingerprint": self.task.fingerprint()}, task_entry.plugin,
                                           task_entry.distribution)
        timings = [StageTiming(stage, round(c.wall_s, 4), c.computed, c.cached, c.items,
                               round(c.computed / c.wall_s, 3) if c.wall_s > 0 else 0.0)
                   for stage, c in self.clocks.items()]
        deviations = list(RUNNER_DEVIATIONS)
        for comp in self.components.values():
            deviations += [d for d in getattr(comp, "deviations", []) if d not in deviations]
        by_stage: dict[str, int] = {}
        for stage, _ in self.errors.values():
            by_stage[stage] = by_stage.get(stage, 0) + 1
        smoke = any("tiny" in json.dumps(c.identity, default=str) or "tiny" in c.name for c in components.values())
        config = self.config.to_json() | {"resolved": {k: {"name": v.name, "args": v.args, "source": v.source}
                                                       for k, v in self.choice.items()},
                                          "run_dir": str(folder.resolve())}
        now = datetime.now(timezone.utc)
        return RunResults(
            run_id=f"{folder.name}__{now.strftime('%Y%m%dT%H%M%S')}", task=self.task.name, split=self.config.split,
            n=len(samples), metrics=metrics, headline_metric=self.task.headline_metric, components=components,
            retrieval_quality=retrieval_quality(logs), errors={"count": len(self.errors), "by_stage": by_stage},
            timings=timings, config=config, config_fingerprint=self.config_fingerprint(), versions=versions(),
            git_hash=git_hash(), seed=self.config.seed, device=self.runtime.device, date=now.isoformat(),
            deviations=deviations, smoke=smoke, shard=f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
        )


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


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
