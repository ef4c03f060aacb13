"""The run configuration: CLI flags, a YAML file and presets resolved into one object."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import HarnessError, InputError

KIND_OPTIONS = ("retriever", "critic", "generator", "prompt_style")
# lm-eval / lmms-eval spellings accepted on the command line and in --config files
OPTION_ALIASES = {"tasks": "task", "model_args": "generator_args", "output_path": "output_dir",
                  "use_cache": "cache_dir", "gen_kwargs": "gen_kwargs", "batch_size": "batch_size"}
IGNORED_OPTIONS = ("log_samples", "config")  # samples.jsonl is always written


def parse_value(text: str) -> Any:
    """'3' -> 3, '0.1' -> 0.1, 'true' -> True, 'none' -> None, a JSON object / list / string as JSON,
    anything else stays a string."""
    low = text.strip().lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    if low in ("none", "null"):
        return None
    if text.strip()[:1] in ("{", "[", '"'):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise HarnessError(f"value {text.strip()!r}: looks like JSON but is not valid JSON ({exc.msg} at "
                               f"column {exc.colno})") from exc
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def split_top_level(text: str) -> list[str]:
    """Split ``k=v,k2=v2`` on the commas outside JSON brackets and double quotes."""
    items, depth, quoted, escaped, start = [], 0, False, False, 0
    for i, ch in enumerate(text):
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def parse_kv(text: str | Mapping[str, Any] | None, option: str = "--args") -> dict[str, Any]:
    """Parse ``k=v,k2=v2`` (or a JSON object) into typed arguments.

    A value may be JSON (an object, a list or a quoted string), so it can carry commas and dicts:
    ``crop_args={"detector": "/models/gd"},queries="/data/a,b/test.csv"``; or pass the whole
    option as one JSON object: ``'{"crop": true, "crop_args": {"detector": "..."}}'``.
    """
    if text is None or text == "":
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{option}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise HarnessError(f"{option}: expected a JSON object")
        return data
    out: dict[str, Any] = {}
    for item in split_top_level(text):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"{option}: expected key=value, got '{item}' (a value with commas: quote it as "
                               'JSON, key="a,b", or pass the option as a JSON object)')
        try:
            out[key.strip()] = parse_value(value)
        except HarnessError as exc:
            raise HarnessError(f"{option}: {key.strip()}: {exc}") from None
    return out


@dataclass
class RunConfig:
    """Everything that defines a run. Component names None mean: preset, then task default."""

    task: str = "demo"
    task_args: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    retriever: str | None = None
    retriever_args: dict[str, Any] = field(default_factory=dict)
    critic: str | None = None
    critic_args: dict[str, Any] = field(default_factory=dict)
    generator: str | None = None
    generator_args: dict[str, Any] = field(default_factory=dict)
    prompt_style: str | None = None
    prompt_style_args: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    limit: int | float | None = None  # a count, or a share of the questions below 1 (rounded up)
    batch_size: int | str = 8
    chunk_size: int = 64
    device: str = "auto"
    dtype: str | None = None
    seed: int = 1234
    output_dir: str = "runs"
    cache: bool = True
    cache_dir: str | None = None
    on_error: str = "stop"  # or "skip": the sample is recorded as an error and scored wrong
    shard: str | None = None  # "i/n", 0-based
    leaderboard: str | None = None  # path; None = the default leaderboard
    no_leaderboard: bool = False
    quiet: bool = False
    predict_only: bool = False  # no scoring: write the task's official submission file (also when no references)
    wandb: str | None = None  # a Weights & Biases project to log the run to (offline without credentials)
    verbose: bool = False  # other libraries' logging and every component argument

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "config") -> RunConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        clean: dict[str, Any] = {}
        gen_kwargs: Any = None
        for key, value in data.items():
            key = OPTION_ALIASES.get(key, key).replace("-", "_")
            if key in IGNORED_OPTIONS:
                continue
            if key == "gen_kwargs":
                gen_kwargs = value
                continue
            if key == "no_cache":
                key, value = "cache", not value
            if key not in names:
                raise InputError(source, f"unknown option '{key}' (known: {', '.join(sorted(names))})", field=key)
            clean[key] = parse_kv(value, key) if key.endswith("_args") else value
        if gen_kwargs:
            clean["generator_args"] = {**clean.get("generator_args", {}), **parse_kv(gen_kwargs, "gen_kwargs")}
        return cls(**clean)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) run configuration; keys are the CLI's long options."""
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), "config file not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError(str(p), f"not valid YAML: {exc}", line=None if line is None else line + 1) from exc
    if not isinstance(data, dict):
        raise InputError(str(p), "expected a mapping of option: value")
    return data


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError as exc:
        raise HarnessError(f"--shard: expected i/n (e.g. 0/4), got '{text}'") from exc
    if not 0 <= index < count:
        raise HarnessError(f"--shard {text}: need 0 <= i < n")
    return index, count
