"""The runner: moves batches of records between stages. It knows nothing about models.

    Task.samples -> retrieve -> judge -> generate -> score -> results.json + samples.jsonl

Samples flow in chunks so that records reach ``samples.jsonl`` as they finish; each
stage's records are stored per sample under a fingerprint of what determines them
(:mod:`reag_harness.store`), which gives the cache, resume after a kill and sharding.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from . import paths
from .atomic import replace_at_end
from .config import RunConfig, parse_shard
from .decoding import decoding_facts
from .digests import digests
from .errors import HarnessError
from .input_checks import image_culprit
from .interfaces import Runtime
from .plugin_manager import get_registry
from .preflight import remote_code_notice, run_preflight
from .progress import Progress
from .prompt_budget import PromptTooLong, fit_request, length_summary
from .records import ChatRequest, Generation, Judgement, Passage, Retrieval, Sample
from .results import ComponentInfo, PassageLog, RunResults, StageTiming
from .results_files import move_foreign, new_results_path, prepare_run_folder, unique_run_id, write_results
from .retrieval_gate import decide, declined, gate_store, no_retrieval
from .run_files import PASSAGE_TEXTS_FILE, SAMPLES_FILE, PassageTextWriter
from .run_identity import checkpoint_label, checkpoint_of, evaluated_split, folder_part, parameter_count
from .sample_rows import RunLog, drop_blank, pair_fingerprints, retrieval_from_record, retrieval_record, sample_row
from .sample_rows import judge_check as judge_check_refs
from .selection import select
from .store import StageStore, fingerprint, p_yes_lines
from .submission import predict_only_mode, write_submission
from .versions import git_hash, versions

T = TypeVar("T")
STAGE_VERSIONS = {"retrieve": "1", "judge": "2", "generate": "1"}  # judge 2: blank passages dropped
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
    departure: dict[str, Any] | None = None  # the preset's component this choice replaced (preset_departures)


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

    Arguments merge in the same order on top of the task's ``component_args``. The task's default
    arguments for a component (e.g. its ``top_k``) still apply when the user or a preset names that
    same component: ``--retriever eva-clip`` on a task whose default is eva-clip keeps the task's
    arguments; a preset's and the user's arguments override them key by key.
    """
    registry = get_registry()
    preset: dict[str, Any] = {}
    preset_source = ""
    if config.preset:
        preset, preset_source = registry.get("preset", config.preset).factory, f"preset {config.preset}"
    elif config.generator and ("preset", config.generator) in registry:
        preset, preset_source = registry.get("preset", config.generator).factory, f"preset {config.generator}"
    resolved: dict[str, Resolved] = {}
    for kind in ("retriever", "critic", "generator", "prompt_style"):
        name, args, source = getattr(config, kind), {}, "cli"
        departure = None
        if name is None and kind in preset:
            name, args, source = preset[kind][0], dict(preset[kind][1]), preset_source
        elif name is not None and kind in preset and same_component(registry, kind, preset[kind][0], name):
            args = dict(preset[kind][1])
        elif name is not None and kind in preset:  # a swap: the preset's arguments that apply carry over
            args = carried_args(registry, kind, name, dict(preset[kind][1]))
            departure = {"kind": kind, "preset": preset_source.removeprefix("preset "), "preset_component":
                         preset[kind][0], "preset_args": dict(preset[kind][1]), "used": name, "carried_over": args}
        if name is None and kind in task.default_components:
            default_name, default_args = task.default_components[kind]
            name, args, source = default_name, dict(default_args), f"task {task.name} default"
        if name is None:
            raise HarnessError(f"no {kind.replace('_', '-')} chosen and task '{task.name}' has no default: "
                               f"pass --{kind.replace('_', '-')}")
        name = registry.get(kind, name).name  # resolves aliases, fails with suggestions
        args = {**task_default_args(task, kind, name, registry), **args}
        merged = {**task.component_args(kind, name), **args, **getattr(config, f"{kind}_args")}
        resolved[kind] = Resolved(name, merged, source, departure)
    return with_generator_prompt_args(resolved, registry)


def same_component(registry: Any, kind: str, a: str, b: str) -> bool:
    """Whether two names (aliases included) are the same registered component."""
    try:
        return registry.get(kind, a).name == registry.get(kind, b).name
    except HarnessError:
        return a == b


#: The preset arguments that carry over to a swapped-in component that takes them (settings of the method, not
#: of the swapped-out component's own checkpoint or encoder)
CARRIED_KEYS = ("crop", "crop_args", "top_k", "threshold", "top_n", "all_filtered", "fusion", "fallback")


def accepted_args(factory: Any) -> set[str]:
    """The argument names a component factory takes. A ``**args`` that forwards to another component counts
    that one's: a class's base classes (``TinyEvaClipRetriever(EvaClipRetriever)``), or a factory function's
    ``forwards_to`` (the class it builds). A ``**args`` that only names unknown arguments counts nothing."""
    targets = list(inspect.getmro(factory)) if inspect.isclass(factory) else [factory]
    if (fwd := getattr(factory, "forwards_to", None)) is not None:
        targets += list(inspect.getmro(fwd))
    names: set[str] = set()
    for target in targets:
        init = target.__dict__.get("__init__") if inspect.isclass(target) else target
        if init is None or target is object:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            continue
        names |= {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return names - {"self", "runtime"}


def carried_args(registry: Any, kind: str, name: str, preset_args: dict[str, Any]) -> dict[str, Any]:
    """The preset's arguments for ``kind`` that the swapped-in component ``name`` takes (crop, top_k, ...)."""
    if name == "none" or not preset_args:
        return {}
    try:
        accepted = accepted_args(registry.get(kind, name).load())
    except HarnessError:
        return {}
    return {k: v for k, v in preset_args.items() if k in accepted and k in CARRIED_KEYS}


def announce_departures(resolved: dict[str, Resolved]) -> list[dict[str, Any]]:
    """Print, at start, each component swapped out of the preset; return them for results.json."""
    out = [r.departure for r in resolved.values() if r.departure]
    for d in out:
        carried = ", ".join(f"{k}={v}" for k, v in d["carried_over"].items()) or "nothing"
        print(f"reag-eval: departing from preset {d['preset']}: {d['kind']} {d['preset_component']} replaced by "
              f"{d['used']} (carried over: {carried}); this run is no longer the preset's setting",
              file=sys.stderr)
    return out


def with_generator_prompt_args(resolved: dict[str, Resolved], registry: Any) -> dict[str, Resolved]:
    """Add the prompt-style arguments the generator requires (its factory's ``prompt_style_args``).

    ``hf-llm`` (text only) requires ``text_only=True``: the prompt style then drops the image
    explicitly, and the resolved configuration in results.json shows it. Arguments the user
    gave win (and a text-only generator then refuses a request that carries an image).
    """
    factory = registry.get("generator", resolved["generator"].name).load()
    required = dict(getattr(factory, "prompt_style_args", None) or {})
    if required:
        style = resolved["prompt_style"]
        resolved["prompt_style"] = Resolved(style.name, {**required, **style.args}, style.source)
    return resolved


def task_default_args(task: Any, kind: str, name: str, registry: Any) -> dict[str, Any]:
    """The task's default arguments for ``kind`` when its default component is ``name`` (aliases resolved)."""
    default = task.default_components.get(kind)
    if default is None or (kind, default[0]) not in registry or registry.get(kind, default[0]).name != name:
        return {}
    return dict(default[1])


def selection_rule(critic: Any) -> tuple[float | None, int | None]:
    """The critic's (threshold, top_n): applied when reading Judgements, never stored."""
    top_n = getattr(critic, "top_n", None)
    return critic.threshold, None if top_n is None else int(top_n)


def critic_active(critic: Any) -> bool:
    """A critic runs when it selects passages: by a threshold, a top_n, or both."""
    threshold, top_n = selection_rule(critic)
    return threshold is not None or top_n is not None


def sample_files(sample: Sample, *components: Any) -> list[str]:
    """The files a sample's records depend on: its image, and what components say they read per sample.

    A component that reads other files per sample declares them with ``input_files(sample) -> list[str]``.
    """
    files = [sample.image] if sample.image else []
    for comp in components:
        more = getattr(comp, "input_files", None)
        if callable(more):
            files += [str(f) for f in more(sample) or ()]
    return files


def sample_check(sample: Sample, *components: Any) -> str:
    """What a cached record of this sample must match: question, image path *and content*, per-sample files."""
    return fingerprint(sample.id, sample.question, sample.image, digests(sample_files(sample, *components)))



def request_images(request: ChatRequest) -> list[str]:
    """The image paths a chat request shows the generator."""
    return [str(item.get("image")) for m in request.messages if isinstance(m.get("content"), list)
            for item in m["content"] if isinstance(item, dict) and item.get("type") == "image"]


def generation_check(request: ChatRequest, prompt_hash: str, sample: Sample, generator: Any = None) -> str:
    """A Generation is valid for this prompt and the current content of every file it depends on."""
    more = getattr(generator, "input_files", None)
    extra = [str(f) for f in more(sample) or ()] if callable(more) else []
    return fingerprint(prompt_hash, digests([*request_images(request), *extra]))


def count_image_modes(samples: Sequence[Sample]) -> dict[str, Any]:
    """PIL modes of the query images (header only): ``{"modes": {"RGB": n, "L": m}, "non_rgb": m, "_by_sample"}``.

    The reference converts EVQA images to RGB but not InfoSeek's; see docs/fidelity.md.
    """
    from .input_checks import image_mode

    modes: dict[str, int] = {}
    by_sample: dict[str, str | None] = {}
    for s in samples:
        mode = image_mode(s.image)
        by_sample[s.id] = mode
        if mode is not None:
            modes[mode] = modes.get(mode, 0) + 1
    return {"modes": modes, "non_rgb": sum(n for m, n in modes.items() if m != "RGB"), "_by_sample": by_sample}


def evidence_in_context(s: Sample, r: Retrieval | None, kept: Sequence[PassageLog]) -> bool | None:
    """The reference's EVQA ``evidence_in_context``: is the gold section among the passages given to the generator?

    With the query file's ``retrieval[0].section_texts`` (``meta["evidence_text"]``) the text is compared as the
    reference does; without it the KB section ``evidence_section_id`` of the first gold page is looked for
    (``retrieval_quality.evidence_in_context.from_kb`` counts those). None for tasks without the notion.
    """
    if "evidence_text" not in s.meta:
        return None
    if r is None or not r.used:
        return False
    text = s.meta.get("evidence_text")
    if isinstance(text, str):
        return any(p.text == text for p in kept)
    section, gold = s.meta.get("evidence_section_id"), s.meta.get("gold_pages") or []
    if section is None or not gold:
        return False  # the reference: no single evidence section -> False
    return any(p.page_key == gold[0] and p.index == int(section) for p in kept)


def without_blank_passages(r: Retrieval) -> Retrieval:
    """Drop passages that are empty or whitespace only (indices kept): a page of blank sections is like ``[]``."""
    return drop_blank(r)


def pair_key(sample_id: str, index: int) -> str:
    """Judge-store key of one (sample, passage) pair, stored as its model batch finishes."""
    return f"{sample_id}#passage{index}"


def pair_check(sample: Sample, passage: Passage, *components: Any) -> str:
    """What a stored pair must match: the sample (image content included) and the passage (page, index, text)."""
    return fingerprint(sample_check(sample, *components), passage.page_key, passage.index, passage.text)


def request_json(request: ChatRequest) -> dict[str, Any]:
    """``request.to_json()`` without ``asdict``'s deep copy (the same JSON, so the same prompt hash)."""
    return {"messages": request.messages, "assistant_prefix": request.assistant_prefix, "stop": request.stop,
            "max_new_tokens": request.max_new_tokens}


def generation_key(sample_id: str, prompt_hash: str) -> str:
    """Generate-store key: one record per (sample, prompt), so a threshold sweep keeps every prompt's output."""
    return f"{sample_id}#prompt{prompt_hash}"


def accepts_on_batch(method: Callable[..., Any]) -> bool:
    """True when a critic's ``p_yes`` / generator's ``generate`` takes ``on_batch`` (BRIEF contract 3)."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "on_batch" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def call_persisting(method: Callable[..., Sequence[Any]], inputs: Sequence[Any], items: Sequence[T],
                    persist: Callable[[Sequence[T], Sequence[Any]], None]) -> list[Any]:
    """``method(inputs)``, handing each finished model batch to ``persist(items_of_batch, results)``.

    A component without ``on_batch`` is persisted once, when the whole call returns.
    """
    if accepts_on_batch(method):
        out = list(method(inputs, on_batch=lambda idx, res: persist([items[i] for i in idx], res)))
    else:
        out = list(method(inputs))
        persist(items, out)
    return out


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
        self.runtime.extra["component_args"] = self.task.component_args  # composed components (chain) use it
        self.choice = resolve_components(config, self.task)
        self.runtime.extra["resolved_args"] = {k: dict(v.args) for k, v in self.choice.items()}  # e.g. a critic
        self.preset_departures = announce_departures(self.choice)
        self.components: dict[str, Any] = {}
        for kind, chosen in self.choice.items():
            self.components[kind] = registry.create(kind, chosen.name, self.runtime, dict(chosen.args))
        self.store_root = Path(config.cache_dir or paths.stage_cache_dir())
        self.clocks = {s: StageClock() for s in ("retrieve", "judge", "generate", "score")}
        self.shard = parse_shard(config.shard) or distributed_shard()
        self.errors: dict[str, tuple[str, str]] = {}
        self.generator_prompt_lengths: list[int] = []
        self.passages_dropped: dict[str, int] = {}  # sample id -> kept passages left out by prompt_policy
        self.predict_only = bool(config.predict_only)
        self.kb_keys = KBKeyCheck()
        self.image_modes: dict[str, Any] = {}
        self.decisions: dict[str, dict[str, Any]] = {}  # sample id -> retrieval gate decision
        self.inline_texts: dict[str, frozenset[tuple[str, int]]] = {}  # per chunk: texts that are not the KB's

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
        for key in ("top_n", "fusion", "fallback"):  # read when selecting, never part of the stored scores
            ident.get("args", {}).pop(key, None)
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
            culprit = image_culprit(items, sample_of)  # an unreadable image, named by query file, line, id
            if self.config.on_error != "skip":
                if culprit is not None:
                    raise culprit from exc
                raise
            if len(items) == 1:
                sample = sample_of(items[0])
                self.errors[sample.id] = (stage, str(culprit) if culprit else f"{type(exc).__name__}: {exc}")
                return [None]
            return [r for item in items for r in self._isolating(stage, fn, [item], sample_of)]

    # ---- stages -------------------------------------------------------------------------------
    def stage_retrieve(self, batch: Sequence[Sample], store: StageStore, kb: Any) -> dict[str, Retrieval]:
        clock, out = self.clocks["retrieve"], {}
        todo = []
        for s in batch:
            if s.id in self.errors:  # an input error: recorded, never retrieved, judged or generated
                continue
            hit = store.get(s.id, sample_check(s, self.retriever))
            if hit is not None:
                out[s.id], self.inline_texts[s.id] = retrieval_from_record(hit, kb)  # blank ones dropped
                clock.cached += 1
            else:
                todo.append(s)
        t0 = time.perf_counter()
        got = self._isolating("retrieve", lambda xs: self.retriever.retrieve(xs, kb), todo, lambda s: s)
        clock.wall_s += time.perf_counter() - t0
        new = [(s, r) for s, r in zip(todo, got) if r is not None]
        records = []
        for s, r in new:
            record, self.inline_texts[s.id] = retrieval_record(r, kb)
            records.append((s.id, sample_check(s, self.retriever), record))
        store.put_many(records)
        for s, r in new:
            out[s.id] = r = without_blank_passages(r)
            clock.computed += 1
            clock.items += len(r.passages)
        return out

    def stage_gated_retrieve(self, batch: Sequence[Sample], store: StageStore, kb: Any,
                             gate: StageStore | None) -> dict[str, Retrieval]:
        """Retrieval for the samples whose gate (:mod:`.retrieval_gate`) does not turn it down."""
        decisions, seconds = decide(self.components, [s for s in batch if s.id not in self.errors], gate,
                                    lambda s: sample_check(s, self.generator),
                                    isolate=lambda fn, xs: self._isolating("retrieve", fn, xs, lambda s: s),
                                    failed=lambda s: s.id in self.errors)
        self.clocks["retrieve"].wall_s += seconds
        self.decisions.update(decisions)
        out = self.stage_retrieve([s for s in batch if not declined(decisions.get(s.id))], store, kb)
        for s in batch:
            if declined(decisions.get(s.id)) and s.id not in self.errors:
                out[s.id] = no_retrieval(s.id, decisions[s.id])
        return out

    def stage_judge(self, batch: Sequence[Sample], retrievals: dict[str, Retrieval],
                    store: StageStore) -> dict[str, Judgement]:
        """P(yes) per passage; each model batch's pairs are stored as it finishes (:func:`pair_key`)."""
        clock, out = self.clocks["judge"], {}
        todo = []
        judge_checks = {}  # made once per sample: looked up now, stored with the new judgements below
        for s in batch:
            r = retrievals.get(s.id)
            if r is None:
                continue
            if not critic_active(self.critic) or not r.used or not r.passages:
                out[s.id] = Judgement(s.id, None)
                continue
            judge_checks[s.id] = check = self._judge_check(s, r)
            hit = store.get(s.id, check)
            if hit is not None:
                p_yes = hit.get("p_yes")
                out[s.id] = Judgement(s.id, None if p_yes is None else tuple(p_yes))
                clock.cached += 1
            else:
                todo.append(s)
        known: dict[tuple[str, int], float] = {}
        pairs = []
        checks: dict[tuple[str, int], str] = {}
        for s in todo:
            check = sample_check(s, self.critic)  # once per sample, not per pair (same value as pair_check's)
            stored = store.may_hold_items(s.id)  # no per-pair record of this sample: no lookups
            passages = retrievals[s.id].passages
            for i, (p, c) in enumerate(zip(passages, pair_fingerprints(check, passages))):
                checks[(s.id, i)] = c
                hit = store.get(pair_key(s.id, i), c) if stored else None
                if hit is not None:
                    known[(s.id, i)] = float(hit["p_yes"])
                else:
                    pairs.append((s, p, i))

        def persist(done: Sequence[tuple[Sample, Passage, int]], values: Sequence[Any]) -> None:
            store.put_text(p_yes_lines([pair_key(s.id, i) for s, _, i in done], [checks[(s.id, i)] for s, _, i in done],
                                       [float(v) for _, v in zip(done, values)]), per_item=True)

        t0 = time.perf_counter()
        probs = self._isolating(
            "judge", lambda xs: call_persisting(self.critic.p_yes, [(s, p) for s, p, _ in xs], xs, persist),
            pairs, lambda pair: pair[0])
        clock.wall_s += time.perf_counter() - t0
        for (s, _, i), v in zip(pairs, probs):
            if v is not None:
                known[(s.id, i)] = float(v)
        new = []
        for s in todo:
            n = len(retrievals[s.id].passages)
            if s.id in self.errors or any((s.id, i) not in known for i in range(n)):
                continue
            new.append(Judgement(s.id, tuple(known[(s.id, i)] for i in range(n))))
        store.put_many((j.sample_id, judge_checks[j.sample_id],
                        {"sample_id": j.sample_id, "p_yes": list(j.p_yes or ())}) for j in new)
        for j in new:
            out[j.sample_id] = j
            clock.computed += 1
            clock.items += len(j.p_yes or ())
        return out

    def _judge_check(self, s: Sample, r: Retrieval) -> str:
        return judge_check_refs(sample_check(s, self.critic), r, self.inline_texts.get(s.id, frozenset()))

    def kept_passages(self, r: Retrieval, j: Judgement) -> list[Passage] | None:
        """None when no retrieval was used; [] when the critic filtered everything."""
        if not r.used:
            return None
        return [r.passages[i] for i in select(r, j, self.critic, self.config.seed).kept]

    def stage_generate(self, batch: Sequence[Sample], retrievals: dict[str, Retrieval],
                       judgements: dict[str, Judgement], store: StageStore) -> dict[str, Generation]:
        """Raw outputs keyed by (sample, prompt hash); each model batch is stored as it finishes."""
        clock, out = self.clocks["generate"], {}
        todo: list[tuple[Sample, ChatRequest, str]] = []
        for s in batch:
            if s.id not in judgements:
                continue
            request = self.fitted_request(s, self.kept_passages(retrievals[s.id], judgements[s.id]))
            if request is None:
                continue
            prompt_hash = fingerprint(request_json(request))
            check = generation_check(request, prompt_hash, s, self.generator)
            hit = store.get(generation_key(s.id, prompt_hash), check)
            if hit is not None:
                out[s.id] = self._parsed(s.id, prompt_hash, hit["raw"])
                clock.cached += 1
            else:
                todo.append((s, request, prompt_hash))

        def persist(done: Sequence[tuple[Sample, ChatRequest, str]], raws: Sequence[Any]) -> None:
            store.put_many((generation_key(s.id, h), generation_check(req, h, s, self.generator), {"raw": raw})
                           for (s, req, h), raw in zip(done, raws))

        t0 = time.perf_counter()
        raws = self._isolating(
            "generate", lambda xs: call_persisting(self.generator.generate, [x[1] for x in xs], xs, persist),
            todo, lambda x: x[0])
        clock.wall_s += time.perf_counter() - t0
        for (s, _, h), raw in zip(todo, raws):
            if raw is not None:
                out[s.id] = self._parsed(s.id, h, raw)
                clock.computed += 1
        return out

    def fitted_request(self, s: Sample, passages: list[Passage] | None) -> ChatRequest | None:
        """The generator request under the generator's prompt-length policy (:mod:`.prompt_budget`).

        None when the prompt cannot fit (recorded as the sample's error). A generator without
        ``prompt_tokens`` gets the request as built; so does one whose measuring fails (the
        generator then raises the same error where errors are isolated).
        """
        def build(ps: Any) -> ChatRequest:
            return self.prompt_style.build(s, ps, self.task.name)

        measure = getattr(self.generator, "prompt_tokens", None)
        if measure is None:
            return build(passages)
        try:
            fitted = fit_request(build, passages, measure, getattr(self.generator, "max_prompt_tokens", None),
                                 getattr(self.generator, "prompt_policy", "truncate"))
        except PromptTooLong as exc:
            self.errors[s.id] = ("generate", f"PromptTooLong: {exc}")
            return None
        except Exception:  # noqa: BLE001 - e.g. a missing image: reported by generate() below, per sample
            return build(passages)
        self.generator_prompt_lengths.append(fitted.tokens)
        if fitted.dropped:
            self.passages_dropped[s.id] = fitted.dropped
        return fitted.request

    def prompt_report(self) -> dict[str, Any]:
        """Per-stage prompt lengths (tokens: max, p95) and what the prompt policy did, for results.json."""
        report: dict[str, Any] = {"judge": length_summary(getattr(self.critic, "prompt_lengths", None) or [])}
        generate = length_summary(self.generator_prompt_lengths)
        generate.update(max_prompt_tokens=getattr(self.generator, "max_prompt_tokens", None),
                        policy=getattr(self.generator, "prompt_policy", None),
                        truncated_samples=len(self.passages_dropped),
                        passages_dropped=sum(self.passages_dropped.values()),
                        too_long_errors=sum(1 for _, msg in self.errors.values() if msg.startswith("PromptTooLong")))
        report["generate"] = generate
        return report

    def _parsed(self, sample_id: str, prompt_hash: str, raw: str) -> Generation:
        reasoning, answer = self.prompt_style.parse(raw)
        return Generation(sample_id, prompt_hash, raw, reasoning, answer)

    # ---- the run ---------------------------------------------------------------------------------
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

    def record_input_errors(self, samples: Sequence[Sample]) -> None:
        """Samples a loader kept with ``meta["input_error"]`` (``--on-error skip``): recorded, then skipped.

        The same for every retriever; lines skipped by the loader (malformed JSON) are reported too.
        """
        for s in samples:
            if s.meta.get("input_error"):
                self.errors[s.id] = ("input", str(s.meta["input_error"]))
        self.image_modes = count_image_modes(samples)
        if getattr(self.task, "non_rgb_images", "convert") == "error":
            for s, mode in self.image_modes.pop("_by_sample").items():
                if mode not in ("RGB", None) and s not in self.errors:
                    self.errors[s] = ("input", f"query image mode {mode} is not RGB: answered 'Error' as the "
                                               "reference does with crop on (non_rgb_images=error)")
        self.image_modes.pop("_by_sample", None)
        skipped = list(getattr(self.task, "skipped_inputs", []) or [])
        if skipped:
            from .terminal import term_text

            print(term_text(f"reag-eval: skipped {len(skipped)} malformed input line(s) (--on-error skip), "
                            f"e.g. {skipped[0]}"), file=sys.stderr)

    def run(self) -> RunResults:
        try:
            samples = self.select_samples()
        except HarnessError as exc:  # reported with every other problem of the run, then stop
            run_preflight(self.task, self.components, first=[f"task {self.task.name}: {exc}"])
            raise
        self.predict_only = predict_only_mode(self.config.predict_only, samples, self.task.name)
        folder = prepare_run_folder(self.run_folder(), create=False)  # a file in the way: fail before anything
        self.record_input_errors(samples)
        run_preflight(self.task, self.components)
        if (notice := remote_code_notice(self.choice)) and not self.config.quiet:
            print(notice, file=sys.stderr)
        prepare_run_folder(folder)
        move_foreign(folder, self.config_fingerprint())
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
        gate = gate_store(self.store_root, self.components, enabled)
        progress = Progress(len(samples), disable=self.config.quiet, clocks=self.clocks)
        try:
            # Both files are written beside the old ones and replaced only when the run ends (texts first).
            with replace_at_end(folder / SAMPLES_FILE) as sample_file, \
                    replace_at_end(folder / PASSAGE_TEXTS_FILE) as text_file:
                log = RunLog(sample_file, PassageTextWriter(text_file))
                for batch in chunks(samples, self.config.chunk_size):
                    self.inline_texts = {}
                    progress.begin("retrieve")
                    retrievals = self.stage_gated_retrieve(batch, stores["retrieve"], kb, gate)
                    self.kb_keys.check(retrievals.values(), kb)
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
                        row, texts = self.sample_row(s, retrievals.get(s.id), judgements.get(s.id),
                                                     generations.get(s.id), score)
                        log.write(row, {**texts, **self._inline_of(retrievals.get(s.id))})
                    text_file.flush()  # a sample line never names a text that is not on disk
                    sample_file.flush()
        finally:
            progress.stop()  # a failing run leaves no heartbeat thread behind
        progress.close()
        self.kb_keys.warn()
        submission = write_submission(folder, self.task, samples, log.answers) if self.predict_only else None
        self.kb_fingerprint = kb.fingerprint()
        quality = log.quality.result(self.choice["retriever"].name != "none")  # no retrieval: recall is "–"
        results = self.results(samples, log.scores, quality, folder)
        if submission is not None:
            results.config["submission"] = str(submission.resolve())
        path = new_results_path(folder)
        results.results_file = path.name  # this invocation's; results.json is always the latest
        write_results(path, results.to_json())
        return results

    def _inline_of(self, r: Retrieval | None) -> dict[tuple[str, int], str]:
        """Texts of ``r`` that are not the KB's (stored in the run folder, kept or not)."""
        inline = self.inline_texts.get(r.sample_id) if r is not None else None
        if not inline:
            return {}
        return {(p.page_key, p.index): p.text for p in r.passages if (p.page_key, p.index) in inline}

    def sample_row(self, s: Sample, r: Retrieval | None, j: Judgement | None, g: Generation | None,
                   score: dict[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, int], str]]:
        """The ``samples.jsonl`` row of a sample (passages by reference) and its kept passages' texts."""
        chosen = select(r, j, self.critic, self.config.seed) if r is not None and j is not None else None
        kept = chosen.kept if chosen is not None else []
        error = self.errors.get(s.id)
        row, texts = sample_row(s, r, j, g, score, kept, f"{error[0]}: {error[1]}" if error else None,
                                self.passages_dropped.get(s.id, 0),
                                evidence_in_context(s, r, [r.passages[i] for i in kept] if r is not None else []))
        row["retrieval_decision"] = self.decisions.get(s.id)
        row["selection"] = chosen.to_json() if chosen is not None else {}
        return row, texts


    def results(self, samples: list[Sample], scores: list[dict[str, Any]], quality: dict[str, Any],
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
                                             entry.distribution, getattr(comp, "checkpoint", None) or
                                             checkpoint_of(comp), checkpoint_label(comp), parameter_count(comp))
        task_entry = registry.get("task", self.config.task)
        task_args = dict(self.config.task_args)
        if data_config := getattr(self.task, "data_config", None):
            task_args["config"] = str(data_config)  # the data's task.yaml (reag-eval data get), read by itself
        components["task"] = ComponentInfo("task", self.task.name, task_args,
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
            run_id=unique_run_id(folder.name, now), task=self.task.name,
            split=evaluated_split(self.config.split, self.task, samples),
            n=len(samples), metrics=metrics, headline_metric=self.task.headline_metric, components=components,
            retrieval_quality=quality,
            errors={"count": len(self.errors), "by_stage": by_stage,
                    "skipped_input_lines": list(getattr(self.task, "skipped_inputs", []) or []),
                    "retrieved_pages_not_in_kb": self.kb_keys.summary()},
            timings=timings, config=config, config_fingerprint=self.config_fingerprint(), versions=versions(),
            git_hash=git_hash(), seed=self.config.seed, device=self.runtime.device, date=now.isoformat(),
            deviations=deviations, smoke=smoke, shard=f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
            prompts=self.prompt_report(),
            runtime_facts=self.runtime_facts(), preset_departures=self.preset_departures,
            inputs=dict(getattr(self.task, "input_facts", None) or {}),
        )

    def runtime_facts(self) -> dict[str, Any]:
        """What actually ran: each component's ``runtime_facts()`` (e.g. the attention implementation), image modes."""
        facts: dict[str, Any] = {}
        for kind, comp in self.components.items():
            fn = getattr(comp, "runtime_facts", None)
            if callable(fn):
                facts[kind] = fn()
        facts["query_images"] = self.image_modes
        facts["decoding"] = decoding_facts(self.generator, self.config.seed)
        if getattr(self, "kb_fingerprint", None):  # passage texts not in the run folder are this KB's
            facts["knowledge_base"] = {"fingerprint": self.kb_fingerprint}
        return facts


class KBKeyCheck:
    """Retrieved page keys that the KB does not hold: warned with a count and an example; none found fails.

    A FAISS index built over other keys (e.g. percent-quoted vs raw URLs) would otherwise give every
    question zero passages without a word.
    """

    def __init__(self) -> None:
        self.found = 0
        self.missing = 0
        self.example: str | None = None

    def check(self, retrievals: Any, kb: Any) -> None:
        for r in retrievals:
            if not r.used:
                continue
            for key, _ in r.pages:
                if key in kb:
                    self.found += 1
                else:
                    self.missing += 1
                    self.example = self.example or key
        if self.missing and not self.found:
            raise HarnessError(
                f"none of the {self.missing} retrieved pages is in the knowledge base (e.g. {self.example!r}, "
                f"while the KB has keys like {next(iter(kb.keys()), None)!r}): the index and the KB use different "
                "keys (percent-quoted vs raw URLs?); rebuild the index over this KB or pass the matching KB")

    def warn(self) -> None:
        if self.missing:
            print(f"reag-eval: warning: {self.missing} of {self.missing + self.found} retrieved pages are not in the "
                  f"knowledge base (e.g. {self.example!r}); they are skipped and recorded in results.json "
                  "(errors.retrieved_pages_not_in_kb)", file=sys.stderr)

    def summary(self) -> dict[str, Any]:
        return {"count": self.missing, "of": self.missing + self.found, "example": self.example}


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
