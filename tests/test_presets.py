"""Every preset names registered components with well-formed arguments."""

from __future__ import annotations

import pytest

from reag_harness.interfaces import Runtime
from reag_harness.plugin_manager import get_registry

KINDS = ("generator", "retriever", "critic", "prompt_style")
REGISTRY = get_registry()
PRESETS = sorted(e.name for e in REGISTRY.entries("preset"))


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
    assert full["retriever"] == ["eva-clip", {"top_k": 20, "crop": True}]
    assert full["critic"] == ["reag-critic", {"threshold": 0.1}]
    assert full["prompt_style"][0] == "reag-reasoning"
    # the brief's names resolve too
    assert REGISTRY.get("preset", "reag-3b-coarse-critic-crop").name == "reag-3b"
    assert REGISTRY.get("preset", "ablation-3b-zero-shot").name == "qwen2.5-vl-3b-zero-shot"
