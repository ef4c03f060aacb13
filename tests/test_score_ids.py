"""``reag-eval score`` matches a run's own ids against the references and refuses unmatched id sets."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.cli.app import main
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.results.scoring import score_predictions
from reag_harness.results.scoring_ids import CoverageError, id_aliases

from . import pipeline_plugin
from .kbdata import synth


@pytest.fixture
def evqa_csv_run(tmp_path: Path):
    """An EVQA run on the official CSV layout (oracle pages, cheap lexical components)."""
    mk = synth()
    kb = mk.write_kb(tmp_path / "kb.json", 12, "evqa", seed=1)
    data = mk.write_evqa_queries(tmp_path / "csv", 8, 12, fmt="csv", seed=1)
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        res = evaluate(task="evqa", task_args={"kb": str(kb), "queries": str(data["queries"]),
                                               "images": str(data["images"]), "no_bem": "true"},
                       retriever="oracle-page", critic="none", generator="test-first-number",
                       prompt_style="test-context", quiet=True, no_leaderboard=True,
                       output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    finally:
        unregister_plugin("test-pipeline")
    folder = next((tmp_path / "runs").iterdir())
    return res, folder, data["queries"]


def test_rescoring_a_runs_own_evqa_samples_gives_the_runs_metrics(evqa_csv_run, tmp_path, capsys):
    res, folder, csv_path = evqa_csv_run
    ids = [json.loads(line)["id"] for line in (folder / "samples.jsonl").read_text().splitlines()]
    assert ids[0] == "test-0"  # the run's scheme: <file stem>-<row>
    code = main(["score", "--task", "evqa", "--predictions", str(folder / "samples.jsonl"), "--references",
                 str(csv_path), "--no-bem", "--output-dir", str(tmp_path / "rescored")])
    assert code == 0, capsys.readouterr().err
    scored = json.loads((tmp_path / "rescored" / "results.json").read_text())
    assert scored["coverage"]["n_predicted"] == 8 and scored["coverage"]["n_unknown_ids"] == 0
    for key in ("all", "single_hop", "two_hop"):
        assert scored["metrics"][key] == res.metrics[key]


def test_bare_row_ids_match_too(tmp_path):
    csv_path = tmp_path / "test.csv"
    csv_path.write_text("question,answer,question_type\nq,Paris,templated\nq,Rome,templated\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"data_id": "test-0", "prediction": "Paris"}\n{"data_id": 1, "prediction": "Rome"}\n')
    res = score_predictions("evqa", preds, csv_path, no_bem=True, output_dir=tmp_path / "o")
    assert res["metrics"]["all"] == 100.0
    assert id_aliases("3", "test") == ["3", "test-3"] and id_aliases("test-3", "test") == ["test-3", "3"]
    both = tmp_path / "both.jsonl"
    both.write_text('{"data_id": "test-0", "prediction": "a"}\n{"data_id": "0", "prediction": "b"}\n')
    with pytest.raises(Exception, match="same reference '0'"):
        score_predictions("evqa", both, csv_path, no_bem=True, output_dir=tmp_path / "o2")


def test_unmatched_ids_fail_with_exit_1_unless_allow_partial(tmp_path, capsys):
    csv_path = tmp_path / "test.csv"
    csv_path.write_text("question,answer,question_type\nq,Paris,templated\nq,Rome,templated\nq,Oslo,templated\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"data_id": "val-0", "prediction": "Paris"}\n{"data_id": "test-1", "prediction": "Rome"}\n')
    with pytest.raises(CoverageError, match="'val-0'") as err:
        score_predictions("evqa", preds, csv_path, no_bem=True, output_dir=tmp_path / "o")
    assert "'2'" in str(err.value) and "--allow-partial" in str(err.value)
    argv = ["score", "--task", "evqa", "--predictions", str(preds), "--references", str(csv_path), "--no-bem",
            "--output-dir", str(tmp_path / "o")]
    assert main(argv) == 1
    assert "match no reference" in capsys.readouterr().err
    assert main([*argv, "--allow-partial"]) == 0
    out = capsys.readouterr().out
    assert "1/3 references predicted (coverage 33.3%), 1 unknown ids" in out


def test_bem_model_tiny_is_an_offline_smoke_test_of_the_bem_path(tmp_path):
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("needs tensorflow (reag-harness[evqa])")
    csv_path = tmp_path / "test.csv"
    csv_path.write_text("question,answer,question_type\nWhy?,light scattering,automatic\nq,Rome,templated\n")
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"data_id": "0", "prediction": "scattering of light"}\n{"data_id": "1", "prediction": "Rome"}\n')
    # a fresh process: TensorFlow is imported before torch there (the other order can crash TF)
    done = subprocess.run([sys.executable, "-m", "reag_harness.cli", "score", "--task", "evqa", "--predictions",
                           str(preds), "--references", str(csv_path), "--bem-model", "tiny", "--output-dir",
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["metrics"]["metric"] == "em+bem" and res["config"]["bem"]["model"].endswith("tiny_bem/model")
    rows = [json.loads(x) for x in (tmp_path / "o" / "samples.jsonl").read_text().splitlines()]
    assert rows[0]["decided_by"] == "bem" and rows[1]["decided_by"] == "em"
