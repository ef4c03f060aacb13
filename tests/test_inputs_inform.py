"""Checks against published files inform, never refuse: a rebuilt KB or a 12-row question file runs,
warns once, and the run's results.json and leaderboard row say the data is not the published one."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.data.kb.build import build_store
from reag_harness.leaderboard.entries import entry_from_results
from reag_harness.leaderboard.view import render_table, view_rows

from . import pipeline_plugin
from .kbdata import synth

FAST = dict(retriever="test-title", critic="test-overlap", generator="test-first-number", prompt_style="test-context",
            quiet=True, no_leaderboard=True)


@pytest.fixture
def plugin():
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        yield
    finally:
        unregister_plugin("test-pipeline")


def test_a_rebuilt_evqa_kb_under_the_released_name_runs_and_is_recorded(plugin, tmp_path: Path,
                                                                       capfd: pytest.CaptureFixture[str]) -> None:
    s = synth()
    kb_json = s.write_kb(tmp_path / "encyclopedic_kb_wiki.json", 6, "evqa", seed=1)
    assert Path(kb_json).name == "encyclopedic_kb_wiki.json"
    build_store(str(kb_json), str(tmp_path / "store"), "evqa")
    q = s.write_evqa_queries(tmp_path / "q", 4, 6, fmt="json", seed=1)
    results = evaluate(task="evqa", task_args={"queries": str(q["queries"]), "images": str(q["images"]),
                                               "kb": str(tmp_path / "store"), "no_bem": "true"},
                       output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"), **FAST)
    err = capfd.readouterr().err
    assert err.count("encyclopedic_kb_wiki.json: sha256") == 1 and "warning" in err  # warned once
    sha = hashlib.sha256(Path(kb_json).read_bytes()).hexdigest()
    assert results.inputs["kb_sha256"] == sha and results.inputs["kb_matches_published"] is False
    assert results.inputs["standard_data"] is False
    saved = (tmp_path / "runs").rglob("results.json")
    assert any('"kb_matches_published": false' in p.read_text() for p in saved)
    entry = entry_from_results(results)
    assert entry["nonstandard_data"] == ["encyclopedic_kb_wiki.json"]
    row = view_rows([entry], [], include_smoke=True)[0]
    assert "non-standard data" in row["flags"]["data"]
    assert "non-standard data" in render_table([row])


def test_a_12_row_infoseek_val_runs_and_is_recorded(plugin, tmp_path: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    s = synth()
    s.write_kb(tmp_path / "kb.json", 20, "infoseek")
    data = s.write_infoseek_queries(tmp_path / "q", 12, 20)
    val = tmp_path / "infoseek_val.jsonl"
    shutil.copy(data["queries"], val)
    results = evaluate(task="infoseek", task_args={"queries": str(val), "images": str(data["images"]),
                                                   "qtypes": str(data["qtypes"]), "kb": str(tmp_path / "kb.json")},
                       output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"), **FAST)
    err = capfd.readouterr().err
    assert err.count("infoseek_val.jsonl has 12 rows") == 1
    assert results.n == 12
    assert results.inputs["queries_rows"] == 12 and results.inputs["queries_matches_published"] is False
    assert entry_from_results(results)["nonstandard_data"] == ["infoseek_val.jsonl"]


def test_published_data_is_standard(tmp_path: Path) -> None:
    from reag_harness.data.check import KNOWN_COUNTS, known_count_check, published_facts

    rows = KNOWN_COUNTS["infoseek_val.jsonl"]["rows"]
    check = known_count_check("query count", str(tmp_path / "infoseek_val.jsonl"), rows)
    assert check is not None and check.status == "ok"
    assert published_facts([check])["standard_data"] is True
    assert published_facts([]) == {}
