"""Several tasks in one process (models loaded once) and predict-only runs (official submission files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reag_harness.cli.app import main
from reag_harness.cli.multitask import expand_tasks, task_config
from reag_harness.core.config import RunConfig
from reag_harness.data.kb.build import build_store
from reag_harness.models import clip_loader, qwen_vl
from reag_harness.results.submission import SUBMISSION_FIELDS, check_submission
from tests.kbdata import synth

COMPONENTS = ["--retriever", "tiny-eva-clip", "--retriever-args", "top_k=3", "--critic", "tiny-critic",
              "--critic-args", "threshold=0.3", "--generator", "tiny-qwen2.5-vl", "--prompt-style", "reag-reasoning"]


@pytest.fixture(scope="module")
def infoseek(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("infoseek")
    s = synth()
    kb_json = s.write_kb(root / "kb.json", 6, "infoseek", seed=2)
    build_store(str(kb_json), str(root / "store"), "infoseek")
    return {"root": root, "store": root / "store", **s.write_infoseek_queries(root, 4, 6, seed=2)}


def test_task_lists_groups_and_per_task_arguments() -> None:
    assert expand_tasks("kbvqa") == ["infoseek", "evqa"] and expand_tasks("demo, infoseek,demo") == ["demo", "infoseek"]
    cfg = RunConfig(task="demo,infoseek", task_args={"infoseek.kb": "K", "limit": 2, "demo.questions": "Q"})
    assert task_config(cfg, "infoseek", ["demo", "infoseek"]).task_args == {"kb": "K", "limit": 2}
    assert task_config(cfg, "demo", ["demo", "infoseek"]).task_args == {"limit": 2, "questions": "Q"}


def test_two_tasks_one_process_each_model_loaded_once(infoseek: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    qwen_vl.clear_cache()  # start cold: the first task loads, the second must reuse
    clip_loader._ENCODERS.clear()
    loads = qwen_vl.LOAD_COUNTS["model"]
    args = (f"infoseek.kb={infoseek['store']},infoseek.queries={infoseek['queries']},"
            f"infoseek.images={infoseek['images']},infoseek.qtypes={infoseek['qtypes']}")
    code = main(["--task", "demo,infoseek", "--task-args", args, "--limit", "3", *COMPONENTS,
                 "--output-dir", str(tmp_path / "runs"), "--no-leaderboard", "--quiet"])
    assert code == 0
    assert qwen_vl.LOAD_COUNTS["model"] - loads == 1  # critic and generator share it, across both tasks
    assert clip_loader.loaded_encoders() == 1
    folders = sorted((tmp_path / "runs").iterdir())
    tasks = {json.loads((f / "results.json").read_text())["task"]: f for f in folders}
    assert set(tasks) == {"demo", "infoseek"} and len(folders) == 2  # one result per task
    assert "final_score" in json.loads((tasks["infoseek"] / "results.json").read_text())["metrics"]
    out = capsys.readouterr().out
    table = out[out.index("task "):].splitlines()
    assert table[0].split() == ["task", "n", "headline", "value", "recall@1", "recall@5", "errors"]
    assert table[1].split()[:3] == ["demo", "3", "accuracy"]
    assert table[2].split()[:3] == ["infoseek", "3", "final_score"]
    assert f"{tasks['infoseek']}/results.json" in out


def test_test_split_without_references_writes_the_official_submission(infoseek: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    rows = [json.loads(line) for line in infoseek["queries"].read_text().splitlines()]
    test = tmp_path / "infoseek_test.jsonl"  # like the official test file: data_id, image_id, question
    test.write_text("".join(json.dumps({k: r[k] for k in ("data_id", "image_id", "question")}) + "\n" for r in rows))
    board = tmp_path / "board.json"
    code = main(["--task", "infoseek", "--task-args", f"kb={infoseek['store']},queries={test},"
                 f"images={infoseek['images']}", *COMPONENTS, "--output-dir", str(tmp_path / "runs"),
                 "--leaderboard", str(board), "--quiet"])
    assert code == 0
    folder = next((tmp_path / "runs").iterdir())
    submission = folder / "predictions.jsonl"
    lines = [json.loads(line) for line in submission.read_text().splitlines()]
    assert [tuple(x) for x in lines] == [SUBMISSION_FIELDS] * len(rows)  # exactly data_id, prediction
    assert [x["data_id"] for x in lines] == [r["data_id"] for r in rows]
    assert all(isinstance(x["prediction"], str) for x in lines)
    assert check_submission(submission, [r["data_id"] for r in rows]) == []
    results = json.loads((folder / "results.json").read_text())
    assert results["metrics"] == {"n": len(rows), "predict_only": True} and not board.exists()  # nothing scored
    # the file is what the official scorer reads: score it against the (held-back) references
    scored = tmp_path / "scored"
    assert main(["score", "--task", "infoseek", "--predictions", str(submission), "--references",
                 str(infoseek["queries"]), "--qtypes", str(infoseek["qtypes"]), "--output-dir", str(scored)]) == 0
    official = json.loads((scored / "results.json").read_text())
    assert official["coverage"]["complete"] is True and official["coverage"]["n_predicted"] == len(rows)


def test_mixed_references_are_an_error_not_a_silent_score(infoseek: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    rows = [json.loads(line) for line in infoseek["queries"].read_text().splitlines()]
    rows[0] = {k: rows[0][k] for k in ("data_id", "image_id", "question")}
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(["--task", "infoseek", "--task-args", f"kb={infoseek['store']},queries={mixed},"
                 f"images={infoseek['images']},qtypes={infoseek['qtypes']}", *COMPONENTS,
                 "--output-dir", str(tmp_path / "runs"), "--no-leaderboard", "--quiet"])
    assert code == 2 and "1 of 4 samples have no references" in capsys.readouterr().err
