"""The run results schema, written down as types (as lm-eval's result_schema).

``results.json`` is :class:`RunResults` serialised; ``samples.jsonl`` holds one
:class:`SampleLog` per line. :data:`RESULTS_SCHEMA_VERSION` changes with the layout.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

RESULTS_SCHEMA_VERSION = 1


@dataclass
class ComponentInfo:
    """A component as it ran: registered name, arguments, and its cache identity."""

    kind: str
    name: str
    args: dict[str, Any]
    identity: dict[str, Any]
    plugin: str = ""
    distribution: str | None = None
    checkpoint: str | None = None  # hub id or resolved local path, when there is one
    label: str | None = None  # the checkpoint named for people: tiny-llava@1a2b3c4, aimagelab/ReAG-7B@5f2c1e0
    n_params: int | None = None  # parameters of the checkpoint (safetensors headers), None when unknown


@dataclass
class StageTiming:
    stage: str
    wall_s: float  # time spent computing (cached records cost nothing)
    n_computed: int
    n_cached: int
    items: int = 0  # pages / passages / tokens counted by the stage
    throughput: float = 0.0  # computed samples per second

    @property
    def unit(self) -> str:
        return "samples/s"


@dataclass
class RunResults:
    """Everything a run reports. ``metrics`` come from the task's official scorer."""

    run_id: str
    task: str
    split: str | None
    n: int  # samples in this run (after --limit / --shard)
    metrics: dict[str, Any]
    headline_metric: str
    components: dict[str, ComponentInfo]
    retrieval_quality: dict[str, Any]
    errors: dict[str, Any]  # {"count": int, "by_stage": {...}}
    timings: list[StageTiming]
    config: dict[str, Any]  # the resolved run configuration (CLI + config file + presets)
    config_fingerprint: str
    versions: dict[str, str | None]  # harness, python, torch, transformers, faiss, open_clip, tensorflow
    git_hash: str | None
    seed: int
    device: str
    date: str
    deviations: list[str] = field(default_factory=list)  # every named deviation from the ReAG reference
    smoke: bool = False  # tiny random checkpoints: meaningless numbers, hidden on the leaderboard
    shard: str | None = None  # "i/n"
    runtime_facts: dict[str, Any] = field(default_factory=dict)  # what ran: attention implementation, image modes
    # per stage ("judge", "generate"): prompt lengths in tokens {"n", "max", "p95", "mean"} of the prompts
    # computed in this run; "generate" adds the prompt policy and what it did (reag_harness.prompts.budget)
    prompts: dict[str, Any] = field(default_factory=dict)
    # components swapped out of the run's preset: {kind, preset, preset_component, preset_args, used, carried_over}
    preset_departures: list[dict[str, Any]] = field(default_factory=list)
    results_file: str | None = None  # this invocation's results_<time>.json (results.json is the latest)
    # what the pre-flight found about released inputs: kb_sha256, kb_matches_published, queries_rows, ...,
    # standard_data (False: a checksum or row count differs from the published file; data_check.published_facts)
    inputs: dict[str, Any] = field(default_factory=dict)
    schema_version: int = RESULTS_SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResults:
        data = dict(data)
        data["components"] = {k: ComponentInfo(**v) for k, v in data["components"].items()}
        data["timings"] = [StageTiming(**t) for t in data["timings"]]
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class PassageLog:
    page_key: str
    index: int
    text: str
    p_yes: float | None
    kept: bool


@dataclass
class SampleLog:
    """One line of samples.jsonl."""

    id: str
    question: str
    image: str | None
    references: list[str]
    meta: dict[str, Any]
    retrieved_pages: list[tuple[str, float]]
    passages: list[PassageLog]
    raw_output: str | None
    reasoning: str | None
    answer: str | None
    score: dict[str, Any]
    error: str | None = None
    retrieval_info: dict[str, Any] = field(default_factory=dict)
    evidence_in_context: bool | None = None  # EVQA: the gold section among the kept passages (the reference's flag)
    passages_dropped: int = 0  # kept passages left out of the generator prompt by prompt_policy=truncate
    # the gate's decision (reag_harness.pipeline.retrieval_gate), e.g. ReflectiVA's [RET] token; None: no gate
    retrieval_decision: dict[str, Any] | None = None
    selection: dict[str, Any] = field(default_factory=dict)  # fallback used, fused scores (reag_harness.core.selection)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SampleLog:
        data = dict(data)
        data["passages"] = [PassageLog(**p) for p in data.get("passages", [])]
        return cls(**data)


SAMPLE_LOG_FIELDS = tuple(f.name for f in dataclasses.fields(SampleLog))
RESULTS_FIELDS = tuple(f.name for f in dataclasses.fields(RunResults))
