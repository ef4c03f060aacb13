"""Leaderboard: concurrent appends, schema validation, smoke rows, reported rows, sorting, views."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reag_harness.cli.app import main
from reag_harness.core.errors import HarnessError
from reag_harness.leaderboard import board as lb
from reag_harness.leaderboard.schema import validate_document, validate_entry
from reag_harness.results.run_results import ComponentInfo, RunResults, StageTiming

#: A verbatim copy of the spec's published-results.md (shared/spec/, not in the repository), so the check runs
#: on a plain clone.
SPEC = Path(__file__).resolve().parent / "data" / "published-results.md"


def infoseek_metrics(uq: float, ue: float, final: float, n: int = 100, missing: int = 0) -> dict:
    block = {"score_time": 0.0, "score_num": 0.0, "score_string": 0.0, "n": n // 2}
    return {
        "final_score": final,
        "unseen_question": {"score": uq, **block},
        "unseen_entity": {"score": ue, **block},
        "coverage": {"n_references": n, "n_predicted": n - missing, "n_missing": missing, "n_unknown_ids": 0,
                     "n_null_predictions": 0, "complete": missing == 0},
        "official": {"final_score": final},
    }


def make_results(run_id: str = "run-1", task: str = "infoseek", metrics: dict | None = None, *, smoke: bool = False,
                 n: int = 100, generator_ckpt: str = "Qwen/Qwen2.5-VL-3B-Instruct", headline: str = "final_score",
                 config: dict | None = None, fingerprint: str | None = None) -> RunResults:
    return RunResults(
        run_id=run_id, task=task, split="val", n=n,
        metrics=metrics if metrics is not None else infoseek_metrics(44.0, 42.0, 42.98, n=n),
        headline_metric=headline,
        components={
            "retriever": ComponentInfo("retriever", "eva_clip", {"top_k": 20, "crop": True}, {"v": 1},
                                       checkpoint="BAAI/EVA-CLIP-8B"),
            "critic": ComponentInfo("critic", "reag_critic", {"threshold": 0.1}, {"v": 1}, checkpoint="aimagelab/c"),
            "generator": ComponentInfo("generator", "qwen_vl", {"max_new_tokens": 64}, {"v": 1},
                                       checkpoint=generator_ckpt),
        },
        retrieval_quality={}, errors={"count": 0, "by_stage": {}},
        timings=[StageTiming("retrieve", 1.5, 10, 0), StageTiming("generate", 3.0, 10, 0, throughput=3.3)],
        config=config or {}, config_fingerprint=fingerprint or f"fp-{run_id}",
        versions={"harness": "0.1.0", "python": "3.11"},
        git_hash="deadbeef", seed=0, device="cpu", date="2025-01-01T00:00:00Z", smoke=smoke,
    )


# --------------------------------------------------------------------------- appends


APPEND_SCRIPT = """
import json, sys, time
from reag_harness.leaderboard.board import append_run
path, start, i, results = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
while time.time() < start:
    time.sleep(0.005)
results["run_id"] = f"proc-{i}"
results["config_fingerprint"] = f"fp-{i}"  # eight different configurations (one row per fingerprint)
append_run(results, path)
"""


def test_eight_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "lb" / "leaderboard.json"
    payload = json.dumps(make_results().to_json())
    start = time.time() + 2.0  # every process imports first, then all append at the same moment
    procs = [subprocess.Popen([sys.executable, "-c", APPEND_SCRIPT, str(path), str(start), str(i), payload],
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    doc = json.loads(path.read_text())
    assert validate_document(doc) == []
    assert sorted(e["run_id"] for e in doc["entries"]) == [f"proc-{i}" for i in range(8)]
    assert all(validate_entry(e) == [] for e in doc["entries"])
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "leaderboard.json"]
    assert leftovers == []  # no temp files and no lock file left behind
    assert main(["leaderboard", "validate", "--file", str(path)]) == 0


def test_append_is_idempotent_per_run_and_refuses_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.json"
    lb.append_run(make_results("a"), path)
    lb.append_run(make_results("a", metrics=infoseek_metrics(50.0, 50.0, 50.0)), path)
    lb.append_run(make_results("b"), path)
    entries = lb.load_leaderboard(path)
    assert [e["run_id"] for e in entries] == ["a", "b"]
    assert entries[0]["headline"]["value"] == 50.0
    path.write_text('{"schema_version": 1, "entries": [')
    with pytest.raises(HarnessError, match="not a readable leaderboard"):
        lb.append_run(make_results("c"), path)
    assert path.read_text() == '{"schema_version": 1, "entries": ['  # left as it was


def test_append_from_a_run_folder_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps(make_results("from-folder").to_json()))
    path = tmp_path / "leaderboard.json"
    assert main(["leaderboard", "append", str(run_dir), "--file", str(path)]) == 0
    assert "appended from-folder" in capsys.readouterr().out
    assert [e["run_id"] for e in lb.load_leaderboard(path)] == ["from-folder"]


# --------------------------------------------------------------------------- entries and schema


def test_entry_from_infoseek_results_has_every_field() -> None:
    entry = lb.entry_from_results(make_results(metrics=infoseek_metrics(44.0, 42.0, 42.98, n=100, missing=4)))
    assert validate_entry(entry) == []
    assert entry["source"] == "measured"
    assert entry["headline"] == {"metric": "all", "value": 42.98}
    assert entry["metrics"] == {"all": 42.98, "unseen_question": 44.0, "unseen_entity": 42.0}
    assert entry["coverage"] == {"n": 96, "n_total": 100, "fraction": 0.96, "complete": False}
    assert entry["components"]["generator"]["checkpoint"] == "Qwen/Qwen2.5-VL-3B-Instruct"
    assert entry["components"]["critic"]["args"] == {"threshold": 0.1}
    assert entry["timings"][1] == {"stage": "generate", "wall_s": 3.0, "n_computed": 10, "n_cached": 0,
                                   "throughput": 3.3}
    assert (entry["harness_version"], entry["git_hash"]) == ("0.1.0", "deadbeef")
    assert entry["config_fingerprint"] == "fp-run-1"
    assert entry["hardware"]["device"] == "cpu" and entry["smoke"] is False
    assert "eva_clip" in entry["pipeline"] and "reag_critic" in entry["pipeline"]


def test_metric_columns_per_task() -> None:
    evqa = {"all": 47.0, "single_hop": 44.9, "two_hop": 60.0, "per_type": {"templated": 1.0}, "n": {"all": 10}}
    assert lb.metric_columns("evqa", evqa, "single_hop") == ({"single_hop": 44.9, "all": 47.0, "two_hop": 60.0},
                                                              "single_hop")
    demo = {"accuracy": 62.5, "n": 8, "by_question_type": {"a": 50.0}}
    assert lb.metric_columns("demo", demo, "accuracy") == ({"accuracy": 62.5}, "accuracy")
    official = {"final_score": 43.3, "unseen_question_score": {"score": 43.7}, "unseen_entity_score": {"score": 42.9}}
    assert lb.metric_columns("infoseek_val", official, "final_score")[0] == {
        "all": 43.3, "unseen_question": 43.7, "unseen_entity": 42.9}


def test_schema_catches_broken_entries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = lb.entry_from_results(make_results())
    broken = [
        ({k: v for k, v in good.items() if k != "run_id"}, "missing required field 'run_id'"),
        ({**good, "n": "100"}, "$.n: expected integer"),
        ({**good, "source": "reported"}, "$"),
        ({**good, "headline": {"metric": "all", "value": 99.0}}, "differs from metrics.all"),
        ({**good, "timings": [{"stage": "x", "wall_s": -1}]}, "below the minimum"),
        ({**good, "surprise": 1}, "unknown field 'surprise'"),
        ({**good, "metrics": {**good["metrics"], "all": "high"}}, "$.metrics.all"),
    ]
    for entry, message in broken:
        errors = validate_entry(entry)
        assert errors and any(message in e for e in errors), (message, errors)
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps({"schema_version": 1, "entries": [good, {**good, "n": -3}]}))
    assert main(["leaderboard", "validate", "--file", str(path)]) == 1
    assert "entries[1].n: -3 is below the minimum" in capsys.readouterr().err
    # a reported row can never hide among the measured ones, nor a duplicate run
    reported = lb.load_published()[0]
    assert any("do not belong" in e for e in validate_document({"schema_version": 1, "entries": [reported]}))
    assert any("duplicate" in e for e in validate_document([good, good]))


def test_default_leaderboard_path_is_the_users_never_the_checkouts(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REAG_LEADERBOARD", raising=False)
    checkout = tmp_path / "checkout"
    (checkout / "leaderboard").mkdir(parents=True)
    (checkout / "leaderboard" / "leaderboard.json").write_text('{"schema_version": 1, "entries": []}')
    (checkout / "sub" / "dir").mkdir(parents=True)
    monkeypatch.chdir(checkout / "sub" / "dir")
    cache = Path(__import__("os").environ["REAG_HARNESS_CACHE"])
    assert lb.default_leaderboard_path() == cache / "leaderboard.json"
    monkeypatch.setenv("REAG_LEADERBOARD", str(tmp_path / "mine.json"))
    assert lb.default_leaderboard_path() == tmp_path / "mine.json"


def test_repository_files_validate() -> None:
    assert lb.validate_leaderboard(lb.REPO_LEADERBOARD_DIR / "leaderboard.json") == []


# --------------------------------------------------------------------------- reported rows


#: Rows added after the spec was written (issue 26: CC-VQA's retrieval baseline), each with its provenance.
ROWS_AFTER_SPEC = {"cc-vqa-qwen2.5-vl-7b-eva-clip"}


def _spec_rows() -> list[list[str]]:
    rows = []
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0] not in ("System", "---"):
            rows.append(cells)
    return rows


def test_published_rows_match_the_spec_exactly() -> None:
    published = [r for r in lb.load_published() if r["id"] not in ROWS_AFTER_SPEC]
    spec = _spec_rows()
    assert len(published) == len(spec) == 19

    def num(cell: str) -> float | None:
        return None if cell in ("–", "-") else float(cell)

    for row, cells in zip(published, spec, strict=True):
        assert row["system"] == cells[0].strip("*")
        assert row["generator"] == cells[2]
        assert row["citation"] == cells[8]
        assert [row["metrics"]["evqa"]["single_hop"], row["metrics"]["evqa"]["all"],
                row["metrics"]["infoseek"]["unseen_question"], row["metrics"]["infoseek"]["unseen_entity"],
                row["metrics"]["infoseek"]["all"]] == [num(c) for c in cells[3:8]], row["id"]
        if cells[1] not in ("same", "as above"):
            assert row["pipeline"] == cells[1]


def test_reported_rows_are_marked_and_flagged() -> None:
    rows = lb.view_rows((), lb.load_published(), task="infoseek")
    assert rows and all(r["source"] == "reported" and r["citation"] for r in rows)
    zero_shot_7b = next(r for r in rows if r["id"] == "qwen2.5-vl-7b-zero-shot")
    assert "23.4" in zero_shot_7b["flags"]["all"]  # the ReAG page's 'All' is not hm(UQ, UE)
    oracle = next(r for r in rows if r["id"] == "reag-7b-oracle-pages")
    assert oracle["comparable"] is False and rows[-1] is oracle  # an upper bound, listed after the real systems
    assert all(validate_entry(r) == [] for r in lb.load_published())


def test_cli_infoseek_shows_published_and_measured_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leaderboard.json"
    assert main(["leaderboard", "--task", "infoseek", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    for name in ("ReAG-3B", "ReAG-7B", "ReflectiVA", "Qwen2.5-VL-3B zero-shot", "Qwen2.5-VL-7B zero-shot"):
        assert name in out
    assert "measured" not in out.split("\n", 2)[2] and "Encyclopedic" not in out
    lb.append_run(make_results("my-run", metrics=infoseek_metrics(46.0, 44.0, 44.98),
                               config={"system": "my ReAG reproduction"}), path)
    assert main(["leaderboard", "--task", "infoseek", "--file", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()

    def rank(name: str) -> int:
        return next(i for i, line in enumerate(lines) if name in line)

    assert rank("CC-VQA") < rank("my ReAG reproduction") < rank("ReflectiVA (on Qwen2.5-VL-7B)")  # 45.1 > 44.98 > 43.9
    mine = lines[rank("my ReAG reproduction")]
    assert "measured" in mine and "44.98" in mine and "100†" in mine  # a 100-sample subset is flagged


def test_table_sorted_by_headline_and_smoke_hidden(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "leaderboard.json"
    lb.append_run(make_results("real", metrics=infoseek_metrics(30.0, 30.0, 30.0)), path)
    lb.append_run(make_results("smoke", metrics=infoseek_metrics(90.0, 90.0, 90.0), smoke=True), path)
    lb.append_run(make_results("tiny", metrics=infoseek_metrics(80.0, 80.0, 80.0),
                               generator_ckpt="/root/.cache/reag_harness/tiny/qwen2_5_vl-v1"), path)
    measured = lb.load_leaderboard(path)
    assert [e["smoke"] for e in measured] == [False, True, True]  # a tiny checkpoint marks a run as smoke
    rows = lb.view_rows(measured, lb.load_published(), task="infoseek")
    assert {"smoke", "tiny"}.isdisjoint(r["id"] for r in rows) and "real" in [r["id"] for r in rows]
    values = [r["headline"] for r in rows if r["comparable"]]
    assert values == sorted(values, reverse=True)
    shown = lb.view_rows(measured, (), include_smoke=True)
    assert [r["id"] for r in shown] == ["real", "smoke", "tiny"]  # smoke rows last (90 and 80 beat 30)
    assert main(["leaderboard", "--file", str(path), "--source", "measured", "--format", "json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["rows"]] == ["real"]
    assert main(["leaderboard", "--file", str(path), "--include-smoke", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "measured (smoke)" in md and "### Encyclopedic-VQA" in md
    table = re.findall(r"^\| \d+ \|.*$", md, flags=re.M)
    assert len(table) == len(lb.view_rows(measured, lb.load_published(), include_smoke=True))
