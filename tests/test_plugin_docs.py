"""docs/plugins.md lets a stranger write a task and a generator without reading the source."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reag_harness.interfaces import KnowledgeBase, Task
from reag_harness.records import ChatRequest, Passage, Retrieval, Sample

DOC = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("record", [Sample, Passage, Retrieval, ChatRequest])
def test_every_record_field_is_documented(record):
    missing = [f.name for f in dataclasses.fields(record) if f"`{f.name}`" not in DOC]
    assert not missing, f"{record.__name__} fields missing from docs/plugins.md: {missing}"


def test_task_and_knowledge_base_interfaces_are_documented():
    task_members = [m for m in (*Task.__annotations__, *vars(Task)) if not m.startswith("_")]
    kb_members = [m for m in vars(KnowledgeBase) if not m.startswith("_")]
    missing = [m for m in [*task_members, *kb_members] if f"`{m}" not in DOC and f"`kb.{m}(" not in DOC]
    assert not missing, missing
    assert "`name = " in DOC and "`len(kb)`" in DOC and "`key in kb`" in DOC


def test_contracts_and_rules_are_documented():
    for phrase in ("on_batch(indices, results)", "preflight(self) -> list[str]",
                   "prompt_style.build(sample, kept, task.name)",
                   "still\n  apply when the user names that same component",
                   "input_files(self, sample)"):
        assert phrase in DOC, phrase
