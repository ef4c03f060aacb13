"""Run folders store passages by (page key, index), texts once per page; ``load_sample_logs`` reads them back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.errors import InputError
from reag_harness.plugin_manager import register_plugin, unregister_plugin
from reag_harness.run_files import PASSAGE_TEXTS_FILE, load_sample_logs

from . import pipeline_plugin
from .test_runner import LEXICAL, run_folder


@pytest.fixture
def demo_run(tmp_path: Path):
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        res = evaluate(**LEXICAL, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"), limit=10,
                       critic_args={"threshold": 0.0})
    finally:
        unregister_plugin("test-pipeline")
    return res, run_folder(res)


def test_texts_are_stored_once_per_passage_and_read_back(demo_run):
    _res, folder = demo_run
    from reag_harness.tasks.demo.task import DemoTask

    kb = DemoTask().knowledge_base()
    lines = [json.loads(x) for x in (folder / "samples.jsonl").read_text().splitlines()]
    assert all("text" not in p for r in lines for p in r["passages"])
    refs = [(p["page_key"], p["index"]) for r in lines for p in r["passages"]]
    text_rows = [json.loads(x) for x in (folder / PASSAGE_TEXTS_FILE).read_text().splitlines()]
    stored = [(r["page_key"], int(i)) for r in text_rows for i in r["texts"]]
    assert len(stored) == len(set(stored)) == len(set(refs)) < len(refs)  # each text once, shared ones reused
    logs = load_sample_logs(folder)
    assert [r["id"] for r in logs] == [r["id"] for r in lines]
    for row in logs:
        for p in row["passages"]:
            assert p["text"] == kb.passages(p["page_key"])[p["index"]]


def test_old_inline_layout_reads_the_same_and_a_missing_text_is_named(demo_run, tmp_path):
    _res, folder = demo_run
    logs = load_sample_logs(folder)
    old = tmp_path / "old"
    old.mkdir()
    (old / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logs))
    assert load_sample_logs(old) == logs
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "samples.jsonl").write_text((folder / "samples.jsonl").read_text())
    with pytest.raises(InputError, match=r"samples.jsonl:1: field 'passages'.*no text"):
        load_sample_logs(broken)


def test_the_retrieval_cache_reads_texts_back_from_the_kb(demo_run, tmp_path):
    res, folder = demo_run
    parts = list((tmp_path / "stages").glob("retrieve/*/part-*.jsonl"))
    records = [json.loads(x)["record"] for p in parts for x in p.read_text().splitlines()]
    assert records and all("text" not in p for r in records for p in r["passages"])
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        again = evaluate(**LEXICAL, output_dir=str(tmp_path / "again"), cache_dir=str(tmp_path / "stages"), limit=10,
                         critic_args={"threshold": 0.0})
    finally:
        unregister_plugin("test-pipeline")
    assert {t.stage: t.n_cached for t in again.timings}["retrieve"] == 10
    assert load_sample_logs(run_folder(again)) == load_sample_logs(folder) and again.metrics == res.metrics
