"""The leaderboard's entry schema: a JSON Schema document plus a small dependency-free validator.

Two kinds of entries exist and can never be confused:

* ``source: "measured"``: a run of this harness (``leaderboard/leaderboard.json``), one per task, with
  the run id, components, versions, fingerprint, hardware and timings.
* ``source: "reported"``: a number copied from a paper (``leaderboard/published.json``), with its
  citation, provenance (where each number was read and who measured it) and setting, covering both tasks
  in one row, and exactly one of ``preset`` (the preset that runs its setting, ``reag-eval ls presets``)
  or ``no_preset`` (a one-line reason).

:data:`MEASURED_ENTRY_SCHEMA` and :data:`REPORTED_ROW_SCHEMA` are JSON Schema (draft 2020-12) documents;
:func:`validate_entry` checks an entry against them (the subset of keywords they use) and adds the
checks JSON Schema cannot express (headline consistency, score ranges). :func:`task_family` names the
family (``infoseek``, ``evqa``, else the task) that keys :data:`TASK_COLUMNS` and :data:`HEADLINE_COLUMN`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

LEADERBOARD_SCHEMA_VERSION = 1

#: The leaderboard columns per task family, headline first.
TASK_COLUMNS: dict[str, tuple[str, ...]] = {
    "infoseek": ("all", "unseen_question", "unseen_entity"),
    "evqa": ("single_hop", "all", "two_hop"),
}
#: The headline column per task family (InfoSeek "All" = harmonic mean of UQ and UE; EVQA single-hop).
HEADLINE_COLUMN: dict[str, str] = {"infoseek": "all", "evqa": "single_hop"}


def task_family(task: str) -> str:
    """``infoseek``, ``evqa`` or the task's own name (e.g. ``demo``)."""
    t = task.lower()
    if t.startswith("infoseek"):
        return "infoseek"
    if t.startswith("evqa") or "encyclopedic" in t:
        return "evqa"
    return t


_NUM_OR_NULL = {"type": ["number", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}

_COMPONENT = {
    "type": "object",
    "required": ["name", "args"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "args": {"type": "object"},
        "checkpoint": _STR_OR_NULL,
        "label": _STR_OR_NULL,
        "n_params": {"type": ["integer", "null"], "minimum": 0},
        "identity": {"type": "object"},
        "plugin": {"type": "string"},
        "distribution": _STR_OR_NULL,
    },
}

_TIMING = {
    "type": "object",
    "required": ["stage", "wall_s"],
    "properties": {
        "stage": {"type": "string"},
        "wall_s": {"type": "number", "minimum": 0},
        "n_computed": {"type": "integer", "minimum": 0},
        "n_cached": {"type": "integer", "minimum": 0},
        "throughput": {"type": "number", "minimum": 0},
    },
}

MEASURED_ENTRY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "reag-harness/leaderboard-measured-entry/1",
    "title": "A measured leaderboard entry (one harness run)",
    "type": "object",
    "required": [
        "schema_version", "source", "run_id", "date", "task", "split", "n", "coverage", "headline",
        "metrics", "components", "harness_version", "git_hash", "config_fingerprint", "hardware",
        "timings", "smoke", "system",
    ],
    "properties": {
        "schema_version": {"type": "integer", "const": LEADERBOARD_SCHEMA_VERSION},
        "source": {"const": "measured"},
        "run_id": {"type": "string", "minLength": 1},
        "date": {"type": "string", "minLength": 1},
        "task": {"type": "string", "minLength": 1},
        "split": _STR_OR_NULL,
        "n": {"type": "integer", "minimum": 0},
        "coverage": {
            "type": "object",
            "required": ["n", "fraction"],
            "properties": {
                "n": {"type": "integer", "minimum": 0},
                "n_total": {"type": ["integer", "null"], "minimum": 0},
                "fraction": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "complete": {"type": ["boolean", "null"]},
            },
        },
        "headline": {
            "type": "object",
            "required": ["metric", "value"],
            "properties": {"metric": {"type": "string", "minLength": 1}, "value": _NUM_OR_NULL},
        },
        "metrics": {"type": "object", "additionalProperties": _NUM_OR_NULL},
        "raw_metrics": {"type": "object"},
        "system": {"type": "string", "minLength": 1},
        "pipeline": {"type": "string"},
        "generator": {"type": "string"},
        "components": {"type": "object", "additionalProperties": _COMPONENT},
        "harness_version": {"type": "string", "minLength": 1},
        "git_hash": _STR_OR_NULL,
        "config_fingerprint": {"type": "string", "minLength": 1},
        "hardware": {"type": "object", "required": ["device"], "properties": {"device": {"type": "string"}}},
        "timings": {"type": "array", "items": _TIMING},
        "versions": {"type": "object"},
        "seed": {"type": ["integer", "null"]},
        "errors": {"type": ["integer", "null"], "minimum": 0},
        "deviations": {"type": "array", "items": {"type": "string"}},
        "shard": _STR_OR_NULL,
        "smoke": {"type": "boolean"},
        "preset": _STR_OR_NULL,
        "notes": {"type": "array", "items": {"type": "string"}},
        "run_dir": {"type": "string"},
        "retrieval_quality": {"type": "object"},
        "interval": {"type": "object", "required": ["lo", "hi", "level"]},
        "nonstandard_data": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}

#: Who measured a reported number: the citing document's authors ("own"), another paper ("copied"), the citing
#: authors re-running someone else's method ("re-implementation"), or not stated ("unknown").
MEASUREMENTS = ("own", "copied", "re-implementation", "unknown")

REPORTED_ROW_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "reag-harness/leaderboard-reported-row/1",
    "title": "A reported (published) leaderboard row, copied from a paper",
    "type": "object",
    "required": ["id", "source", "system", "pipeline", "generator", "metrics", "citation", "provenance", "setting"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "source": {"const": "reported"},
        # Where the numbers were read (document, exact location) and who measured them.
        "provenance": {
            "type": "object",
            "required": ["document", "location", "measurement"],
            "properties": {
                "document": {"type": "string", "minLength": 1},  # paper, project page, README
                "location": {"type": "string", "minLength": 1},  # table and row, with the commit of a page/README
                "measurement": {"enum": list(MEASUREMENTS)},
                "copied_from": {"type": "string", "minLength": 1},  # where the same figures appear / come from
                "note": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "system": {"type": "string", "minLength": 1},
        "pipeline": {"type": "string"},
        "generator": {"type": "string"},
        "metrics": {
            "type": "object",
            "required": ["evqa", "infoseek"],
            "properties": {
                "evqa": {
                    "type": "object",
                    "required": ["single_hop", "all"],
                    "properties": {"single_hop": _NUM_OR_NULL, "all": _NUM_OR_NULL},
                    "additionalProperties": False,
                },
                "infoseek": {
                    "type": "object",
                    "required": ["unseen_question", "unseen_entity", "all"],
                    "properties": {"unseen_question": _NUM_OR_NULL, "unseen_entity": _NUM_OR_NULL, "all": _NUM_OR_NULL},
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "citation": {"type": "string", "minLength": 1},
        "setting": {"type": "string", "minLength": 1},
        "notes": {"type": "array", "items": {"type": "string"}},
        "flags": {"type": "object", "additionalProperties": {"type": "string"}},
        "comparable": {"type": "boolean"},
        "preset": {"type": "string", "minLength": 1},
        "no_preset": {"type": "string", "minLength": 1},
    },
    "additionalProperties": False,
}
#: A reported row names exactly one of these: the preset that runs its setting, or why there is none.
PRESET_FIELDS = ("preset", "no_preset")

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, _TYPES[name])


def check_schema(value: Any, schema: Mapping[str, Any], where: str = "$") -> list[str]:
    """Errors of ``value`` against ``schema`` (keywords: type, const, enum, required, properties,
    additionalProperties, items, minimum, maximum, minLength). An empty list means valid."""
    errors: list[str] = []
    if "const" in schema and value != schema["const"]:
        return [f"{where}: must be {schema['const']!r}, got {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: must be one of {schema['enum']!r}, got {value!r}"]
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, n) for n in names):
            return [f"{where}: expected {' or '.join(names)}, got {type(value).__name__} {value!r:.60}"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        errors.append(f"{where}: must not be empty")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                errors.append(f"{where}: missing required field '{key}'")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, sub in value.items():
            if key in props:
                errors.extend(check_schema(sub, props[key], f"{where}.{key}"))
            elif extra is False:
                errors.append(f"{where}: unknown field '{key}'")
            elif isinstance(extra, dict):
                errors.extend(check_schema(sub, extra, f"{where}.{key}"))
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors.extend(check_schema(item, schema["items"], f"{where}[{i}]"))
    return errors


def validate_entry(entry: Any) -> list[str]:
    """All problems of one leaderboard entry (measured or reported); an empty list means valid."""
    if not isinstance(entry, dict):
        return [f"$: an entry must be an object, got {type(entry).__name__}"]
    source = entry.get("source")
    if source == "measured":
        errors = check_schema(entry, MEASURED_ENTRY_SCHEMA)
        if errors:
            return errors
        head = entry["headline"]
        if head["metric"] in entry["metrics"] and entry["metrics"][head["metric"]] != head["value"]:
            errors.append(f"$.headline: value {head['value']} differs from metrics.{head['metric']}")
        if head["metric"] not in entry["metrics"]:
            errors.append(f"$.headline: metric '{head['metric']}' is not among the entry's metrics")
        return errors
    if source == "reported":
        errors = check_schema(entry, REPORTED_ROW_SCHEMA)
        if errors:
            return errors
        given = [f for f in PRESET_FIELDS if f in entry]
        if len(given) != 1:
            errors.append("$: a reported row needs exactly one of 'preset' (the preset running its setting) or "
                          f"'no_preset' (a one-line reason), got {given or 'neither'}")
        elif "\n" in entry.get("no_preset", ""):
            errors.append("$.no_preset: must be one line")
        for task, cols in entry["metrics"].items():
            for col, value in cols.items():
                if value is not None and not 0 <= value <= 100:
                    errors.append(f"$.metrics.{task}.{col}: {value} is not a percentage")
        return errors
    return [f"$.source: must be 'measured' or 'reported', got {source!r}"]


def validate_document(doc: Any, *, expect: str = "measured") -> list[str]:
    """Problems of a whole leaderboard file: ``{"schema_version", "entries": [...]}`` (or a bare list).

    ``expect`` is the only source allowed in this file ("measured" for leaderboard.json, "reported"
    for published.json), so a copied number can never sit among measured ones; ids must be unique.
    """
    if isinstance(doc, dict):
        if doc.get("schema_version") != LEADERBOARD_SCHEMA_VERSION:
            return [f"$.schema_version: expected {LEADERBOARD_SCHEMA_VERSION}, got {doc.get('schema_version')!r}"]
        entries = doc.get("entries")
    else:
        entries = doc
    if not isinstance(entries, list):
        return ["$.entries: expected a list of entries"]
    errors: list[str] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"entries[{i}]"
        problems = validate_entry(entry)
        errors.extend(f"{where}{p[1:]}" for p in problems)
        if problems:
            continue
        if entry["source"] != expect:
            errors.append(f"{where}.source: '{entry['source']}' entries do not belong here (expected {expect!r})")
        key = entry.get("run_id") or entry.get("id")
        key = f"{key}|{entry.get('task', '')}"
        if key in seen:
            errors.append(f"{where}: duplicate id {key!r}")
        seen.add(key)
    return errors
