"""Every preset names registered components with well-formed arguments; every published
leaderboard row names its preset (or why there is none); ``reag-eval ls presets`` prints them."""

from __future__ import annotations

import shlex

import pytest

from reag_harness.core.config import RunConfig, parse_kv
from reag_harness.core.plugin_manager import get_registry
from reag_harness.interfaces import Runtime
from reag_harness.leaderboard import board as lb
from reag_harness.leaderboard.schema import validate_entry

KINDS = ("generator", "retriever", "critic", "prompt_style")
REGISTRY = get_registry()
PRESETS = sorted(e.name for e in REGISTRY.entries("preset") if set(e.factory) == set(KINDS))
@pytest.mark.parametrize("name", PRESETS)
def test_preset_references_registered_components(name):
    entry = REGISTRY.get("preset", name)
    config = entry.factory
    assert set(config) == set(KINDS), name
    for kind in KINDS:
        component, args = config[kind]
        assert (kind, component) in REGISTRY, f"preset {name}: {kind} '{component}' is not registered"
        assert isinstance(args, dict)
    assert entry.description


@pytest.mark.parametrize("name", PRESETS)
def test_preset_prompt_style_builds(name):
    style_name, args = REGISTRY.get("preset", name).factory["prompt_style"]
    style = REGISTRY.create("prompt_style", style_name, Runtime(), dict(args))
    assert style.identity()["name"] == style_name


def test_paper_rows_are_there():
    for name in ("reag-3b", "reag-7b", "qwen2.5-vl-3b-zero-shot", "qwen2.5-vl-7b-zero-shot", "ablation-3b-coarse",
                 "ablation-3b-coarse-critic", "ablation-3b-coarse-critic-crop", "reag-7b-oracle-pages"):
        assert ("preset", name) in REGISTRY
    full = REGISTRY.get("preset", "reag-3b").factory
    from plugins.presets import EVA_CLIP_ARGS

    # the preset carries what EVA-CLIP-8B needs to load (issue 20: presets run as printed)
    assert full["retriever"] == ["eva-clip", {"top_k": 20, "crop": True, **EVA_CLIP_ARGS}]
    assert full["critic"] == ["reag-critic", {"threshold": 0.1}]
    assert full["prompt_style"][0] == "reag-reasoning"
    # the brief's names resolve too
    assert REGISTRY.get("preset", "reag-3b-coarse-critic-crop").name == "reag-3b"
    assert REGISTRY.get("preset", "ablation-3b-zero-shot").name == "qwen2.5-vl-3b-zero-shot"


# ---- baselines tied to the published leaderboard -----------------------------------------------------------
def test_baseline_presets_name_their_models():
    def config(name):
        return REGISTRY.get("preset", name).factory

    for name, hub_id in (("llava-1.5-7b-zero-shot", "llava-hf/llava-1.5-7b-hf"),
                         ("blip-2-zero-shot", "Salesforce/blip2-flan-t5-xl"),
                         ("qwen2-vl-7b-zero-shot", "Qwen/Qwen2-VL-7B-Instruct"),
                         ("internvl3-8b-zero-shot", "OpenGVLab/InternVL3-8B-hf")):
        c = config(name)
        assert c["generator"] == ["hf-vlm", {"pretrained": hub_id}], name
        assert c["retriever"][0] == "none" and c["critic"][0] == "none", name
    assert config("blip-2-zero-shot")["prompt_style"][0] == "only-question"  # BLIP-2's "Question: ... Answer:"
    gpt = config("gpt-4v-zero-shot")
    assert gpt["generator"][0] == "openai" and gpt["generator"][1]["model"].startswith("gpt-4")
    text = config("llama-3.1-8b-text-eva-clip")
    assert text["generator"] == ["hf-llm", {"pretrained": "meta-llama/Llama-3.1-8B-Instruct"}]
    assert text["retriever"][0] == "eva-clip" and text["prompt_style"][1]["text_only"] is True
    critic_only = config("qwen2.5-vl-7b-eva-clip-reag-critic")
    assert critic_only["generator"][0] == "qwen2.5-vl-7b"
    assert critic_only["critic"] == ["reag-critic", {"threshold": 0.1}] and critic_only["retriever"][0] == "eva-clip"


@pytest.mark.parametrize("name", ["gpt-4v-zero-shot", "llava-1.5-7b-zero-shot", "llama-3.1-8b-text-eva-clip",
                                  "qwen2.5-vl-7b-eva-clip-reag-critic"])
def test_baseline_presets_resolve_on_a_task(name):
    """The runner's resolution (names, aliases, merged arguments), without loading a model."""
    from reag_harness.pipeline.components import resolve_components

    config = REGISTRY.get("preset", name).factory
    task = REGISTRY.create("task", "demo", Runtime(), {})
    resolved = resolve_components(RunConfig(task="demo", preset=name), task)
    for kind in KINDS:
        assert resolved[kind].name == config[kind][0] and resolved[kind].source == f"preset {name}"
        assert config[kind][1].items() <= resolved[kind].args.items()


def test_every_published_row_names_a_registered_preset_or_a_reason():
    rows = lb.load_published()
    assert rows
    for row in rows:
        assert ("preset" in row) != ("no_preset" in row), row["id"]
        if "preset" in row:
            assert ("preset", row["preset"]) in REGISTRY, f"{row['id']}: preset '{row['preset']}' does not exist"
        else:
            assert row["no_preset"].strip() and "\n" not in row["no_preset"]
    named = {r["id"]: r.get("preset") for r in rows}
    assert named["gpt-4v-zero-shot"] == "gpt-4v-zero-shot" and named["blip-2-zero-shot"] == "blip-2-zero-shot"
    assert named["llava-1.5-7b-zero-shot"] == "llava-1.5-7b-zero-shot"
    assert named["echosight-reimpl-visual"] == "echosight"  # EchoSight as published (issue 26), not the text-only top 5
    assert named["reflectiva"] == "reflectiva"


def test_a_reported_row_needs_exactly_one_of_preset_and_no_preset():
    row = dict(lb.load_published()[0])
    row.pop("preset", None)
    row.pop("no_preset", None)
    assert any("exactly one" in e for e in validate_entry(row))
    assert any("exactly one" in e for e in validate_entry({**row, "preset": "a", "no_preset": "b"}))
    assert any("one line" in e for e in validate_entry({**row, "no_preset": "a\nb"}))
    assert validate_entry({**row, "no_preset": "weights not released"}) == []
    assert validate_entry({**row, "preset": "reag-3b"}) == []


def test_ls_presets_prints_each_preset_with_its_command(capsys):
    from reag_harness.cli.app import main

    assert main(["ls", "presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for entry in REGISTRY.entries("preset"):
        [line] = [x for x in lines if f"--preset {entry.name} " in x or x.endswith(f"--preset {entry.name}")]
        for kind, (component, *rest) in entry.factory.items():
            flag = kind.replace("_", "-")
            assert f"--{flag} {component}" in line
            args = rest[0] if rest else {}
            if args:  # the printed arguments parse back to the preset's
                printed = line.split(f"--{flag}-args ", 1)[1].split(" --")[0].rstrip(")")
                assert parse_kv(shlex.split(printed)[0]) == args, (entry.name, kind)
