"""Run folders store passages by (page key, index), texts once per page; ``load_sample_logs`` reads them back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.core.errors import InputError
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.results.run_files import PASSAGE_TEXTS_FILE, load_sample_logs

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
    refs = [(p["page_key"], p["index"]) for r in lines for p in r["passages"] if p["kept"]]
    text_rows = [json.loads(x) for x in (folder / PASSAGE_TEXTS_FILE).read_text().splitlines()]
    stored = [(r["page_key"], int(i)) for r in text_rows for i in r["texts"]]
    # only kept passages' texts, each once (shared ones reused); the others are the KB's, by reference
    assert len(stored) == len(set(stored)) == len(set(refs)) < len(refs)
    all_refs = {(p["page_key"], p["index"]) for r in lines for p in r["passages"]}
    assert len(all_refs) > len(set(refs))
    kb_ref = json.loads((folder / "results.json").read_text())["runtime_facts"]["knowledge_base"]
    assert kb_ref == {"fingerprint": kb.fingerprint()}
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
    # passages as runs of (page, [indices]) with no texts: every text is the KB's
    assert records and all(len(run) == 2 for r in records for run in r["passage_runs"])
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        again = evaluate(**LEXICAL, output_dir=str(tmp_path / "again"), cache_dir=str(tmp_path / "stages"), limit=10,
                         critic_args={"threshold": 0.0})
    finally:
        unregister_plugin("test-pipeline")
    assert {t.stage: t.n_cached for t in again.timings}["retrieve"] == 10
    assert load_sample_logs(run_folder(again)) == load_sample_logs(folder) and again.metrics == res.metrics


def test_texts_left_to_a_kb_that_changed_read_as_none_and_say_why(demo_run, capsys):
    _res, folder = demo_run
    results = json.loads((folder / "results.json").read_text())
    results["runtime_facts"]["knowledge_base"]["fingerprint"] = "another-kb"
    (folder / "results.json").write_text(json.dumps(results))
    logs = load_sample_logs(folder)
    stored = {(r["page_key"], int(i)) for x in (folder / PASSAGE_TEXTS_FILE).read_text().splitlines()
              for r in [json.loads(x)] for i in r["texts"]}
    kept = [p for r in logs for p in r["passages"] if p["kept"]]
    others = [p for r in logs for p in r["passages"] if (p["page_key"], p["index"]) not in stored]
    assert kept and all(isinstance(p["text"], str) for p in kept)
    assert others and all(p["text"] is None for p in others)
    err = capsys.readouterr().err
    assert f"{len(others)} passage text(s) are kept by reference to the KB another-kb" in err
    assert "the run used another-kb" in err
