"""``reag-eval score``: every accepted format, results.json / samples.jsonl, errors naming file, line, field."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.models.tiny.bem import build_tiny_bem
from reag_harness.results.scoring import configure, evaluate_module_path, run, score_predictions

# --- InfoSeek fixtures ---------------------------------------------------------------------------
REFS = [
    {"data_id": "q1", "data_split": "val_unseen_question", "answer_eval": ["Eiffel Tower", "Tour Eiffel"]},
    {"data_id": "q2", "data_split": "val_unseen_question", "answer_eval": [{"wikidata": 300, "range": [270, 330]}]},
    {"data_id": "q3", "data_split": "val_unseen_question", "answer_eval": ["1889"]},
    {"data_id": "e1", "data_split": "val_unseen_entity", "answer_eval": ["Saint-Louis"]},
    {"data_id": "e2", "data_split": "val_unseen_entity", "answer_eval": {"range": [-0.5, 0.5]}},
    {"data_id": "e3", "data_split": "val_unseen_entity", "answer_eval": ["1990"]},
]
QTYPES = {"q1": "STRING", "q2": "NUMERICAL", "q3": "TIME", "e1": "STRING", "e2": "NUMERICAL", "e3": "TIME"}
PREDS = {"q1": "the eiffel tower", "q2": "about 300 meters", "q3": "1890", "e1": "saint louis",
         "e2": "I don't know", "e3": "1990"}
# unseen_question: q1 yes, q2 yes, q3 no -> 66.67; unseen_entity: e1 no, e2 yes, e3 yes -> 66.67


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def infoseek_files(tmp_path: Path) -> dict[str, Path]:
    return {
        "refs": _jsonl(tmp_path / "infoseek_val.jsonl", REFS),
        "qtypes": _jsonl(tmp_path / "infoseek_val_qtype.jsonl",
                         [{"data_id": k, "question_type": v} for k, v in QTYPES.items()]),
        "preds": _jsonl(tmp_path / "preds.jsonl", [{"data_id": k, "prediction": v} for k, v in PREDS.items()]),
    }


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="reag-eval score")
    configure(parser)
    return parser.parse_args(argv)


def test_infoseek_score_writes_results_and_samples(infoseek_files: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = _cli(["--task", "infoseek", "--predictions", str(infoseek_files["preds"]), "--references",
                 str(infoseek_files["refs"]), "--qtypes", str(infoseek_files["qtypes"]), "--output-dir", str(out)])
    assert run(args) == 0
    assert "final 66.67" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    for key in ("task", "n", "metrics", "official", "coverage", "config", "date", "harness_version"):
        assert key in results
    assert results["task"] == "infoseek" and results["n"] == 6
    official = results["official"]
    assert set(official) == {"final_score", "unseen_question_score", "unseen_entity_score"}
    for split in ("unseen_question_score", "unseen_entity_score"):
        assert set(official[split]) == {"score", "score_time", "score_num", "score_string"}
    assert official == {
        "final_score": 66.67,
        "unseen_question_score": {"score": 66.67, "score_time": 0.0, "score_num": 100.0, "score_string": 100.0},
        "unseen_entity_score": {"score": 66.67, "score_time": 100.0, "score_num": 100.0, "score_string": 0.0},
    }
    assert results["metrics"]["final_score"] == 66.67
    assert results["coverage"]["complete"] and results["coverage"]["n_unknown_ids"] == 0
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [(s["id"], s["correct"]) for s in samples] == [("q1", 1), ("q2", 1), ("q3", 0), ("e1", 0), ("e2", 1),
                                                          ("e3", 1)]
    assert samples[0]["prediction"] == "the eiffel tower" and samples[0]["split"] == "unseen_question"


def test_infoseek_missing_and_unknown_ids(infoseek_files: dict[str, Path], tmp_path: Path) -> None:
    rows = [{"data_id": k, "prediction": v} for k, v in PREDS.items() if k != "q3"]  # q3 (wrong) missing
    rows.append({"data_id": "zzz", "prediction": "x"})
    preds = _jsonl(tmp_path / "partial.jsonl", rows)
    res = score_predictions("infoseek", preds, infoseek_files["refs"], infoseek_files["qtypes"],
                            output_dir=tmp_path / "o", allow_partial=True)
    assert res["metrics"]["unseen_question"]["score"] == 66.67  # q3 missing -> counted wrong
    assert res["official"]["unseen_question_score"]["score"] == 100.0  # the official scorer ignores it
    assert res["official"]["final_score"] == 80.0  # hm(100, 66.67)
    cov = res["coverage"]
    assert (cov["n_references"], cov["n_predicted"], cov["n_missing"], cov["n_unknown_ids"]) == (6, 5, 1, 1)
    assert cov["missing_id_examples"] == ["q3"] and cov["unknown_id_examples"] == ["zzz"]
    assert "left out" in res["official_label"]


def test_reag_split_folder_and_runner_samples(infoseek_files: dict[str, Path], tmp_path: Path) -> None:
    base = score_predictions("infoseek", infoseek_files["preds"], infoseek_files["refs"], infoseek_files["qtypes"],
                             output_dir=tmp_path / "base")
    run_dir = tmp_path / "infoseek__ReAG-3B__with_retrieval_top20"
    run_dir.mkdir()
    items = [{"data_id": k, "unique_id": k, "question": "?", "answers": v, "prediction": v, "reference": [],
              "question_type": "N/A", "evidence_in_context": False, "num_passages": 3} for k, v in PREDS.items()]
    (run_dir / "split_0.json").write_text(json.dumps(items[:4]))
    (run_dir / "split_1.json").write_text(json.dumps(items[4:]))
    (run_dir / "latency_stats__split_0.json").write_text(json.dumps({"retrieval_latency_avg": 1.0}))
    folder = score_predictions("infoseek", run_dir, infoseek_files["refs"], infoseek_files["qtypes"],
                               output_dir=tmp_path / "folder")
    assert folder["official"] == base["official"] and len(folder["config"]["predictions"]) == 2
    # the harness runner's samples.jsonl: "id" and "answer"; a null answer (generation error) scores as ""
    runner = [{"id": k, "answer": v, "raw_output": v, "error": None} for k, v in PREDS.items()]
    runner[0] = {"id": "q1", "answer": None, "raw_output": None, "error": "OOM"}
    res = score_predictions("infoseek", _jsonl(tmp_path / "samples.jsonl", runner), infoseek_files["refs"],
                            infoseek_files["qtypes"], output_dir=tmp_path / "runner")
    assert res["coverage"]["n_null_predictions"] == 1 and res["official"]["unseen_question_score"]["score"] == 33.33
    # our own samples.jsonl rescored gives the same numbers
    again = score_predictions("infoseek", tmp_path / "base" / "samples.jsonl", infoseek_files["refs"],
                              infoseek_files["qtypes"], output_dir=tmp_path / "again")
    assert again["official"] == base["official"] and again["metrics"] == base["metrics"]


def test_duplicate_predictions_name_file_line_and_field(infoseek_files: dict[str, Path], tmp_path: Path) -> None:
    preds = _jsonl(tmp_path / "dup.jsonl", [{"data_id": "q1", "prediction": "a"}, {"data_id": "q2", "prediction": "b"},
                                            {"data_id": "q1", "prediction": "c"}])
    with pytest.raises(InputError) as err:
        score_predictions("infoseek", preds, infoseek_files["refs"], infoseek_files["qtypes"], output_dir=tmp_path)
    assert err.value.line == 3 and err.value.field == "data_id" and err.value.path.endswith("dup.jsonl")
    assert "dup.jsonl:3" in str(err.value) and "duplicate" in str(err.value) and "line 1" in str(err.value)


def test_bad_json_line_and_missing_fields(infoseek_files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"data_id": "q1", "prediction": "a"}\n{"data_id": "q2", "prediction": \n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2") as err:
        score_predictions("infoseek", bad, infoseek_files["refs"], infoseek_files["qtypes"], output_dir=tmp_path)
    assert err.value.line == 2
    nopred = _jsonl(tmp_path / "nopred.jsonl", [{"data_id": "q1", "text": "a"}])
    with pytest.raises(InputError) as err:
        score_predictions("infoseek", nopred, infoseek_files["refs"], infoseek_files["qtypes"], output_dir=tmp_path)
    assert (err.value.line, err.value.field) == (1, "prediction")
    refs = _jsonl(tmp_path / "refs.jsonl", [REFS[0], {"data_id": "q2", "data_split": "val_unseen_question"}])
    with pytest.raises(InputError) as err:
        score_predictions("infoseek", infoseek_files["preds"], refs, infoseek_files["qtypes"], output_dir=tmp_path)
    assert (err.value.line, err.value.field) == (2, "answer_eval") and "refs.jsonl:2" in str(err.value)
    norange = _jsonl(tmp_path / "norange.jsonl", [{**REFS[1], "answer_eval": [{"wikidata": 3}]}])
    with pytest.raises(InputError) as err:
        score_predictions("infoseek", infoseek_files["preds"], norange, infoseek_files["qtypes"], output_dir=tmp_path)
    assert err.value.field == "answer_eval"


def test_qtype_errors(infoseek_files: dict[str, Path], tmp_path: Path) -> None:
    qt = _jsonl(tmp_path / "qt.jsonl", [{"data_id": "q1", "question_type": "STRING"},
                                        {"data_id": "q2", "question_type": "COUNT"}])
    with pytest.raises(InputError) as err:
        score_predictions("infoseek", infoseek_files["preds"], infoseek_files["refs"], qt, output_dir=tmp_path)
    assert (err.value.line, err.value.field) == (2, "question_type") and "COUNT" in str(err.value)
    partial = _jsonl(tmp_path / "qt2.jsonl", [{"data_id": "q1", "question_type": "STRING"}])
    with pytest.raises(InputError) as err:
        score_predictions("infoseek", infoseek_files["preds"], infoseek_files["refs"], partial, output_dir=tmp_path)
    assert (err.value.line, err.value.field) == (2, "data_id")
    with pytest.raises(InputError, match="--qtypes"):
        score_predictions("infoseek", infoseek_files["preds"], infoseek_files["refs"], output_dir=tmp_path)


# --- EVQA ----------------------------------------------------------------------------------------
EVQA_CSV = (
    "question,answer,question_type,dataset_image_ids,wikipedia_url\n"
    'Which tower is this?,Eiffel Tower|Tour Eiffel,templated,a,u\n'
    '"What colours,\nif any?",red&&blue,multi_answer,b,u\n'
    "Why is the sky blue?,light scattering,automatic,c,u\n"
    "Who built the bridge that crosses this river?,A|Gustave Eiffel,2_hop,d,u\n"
)


@pytest.fixture(scope="session")
def tiny_bem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_tiny_bem(tmp_path_factory.getbasetemp() / "tiny_bem")


@pytest.fixture()
def evqa_files(tmp_path: Path) -> dict[str, Path]:
    csv_path = tmp_path / "test.csv"
    csv_path.write_text(EVQA_CSV, encoding="utf-8")
    preds = _jsonl(tmp_path / "evqa_preds.jsonl", [
        {"data_id": 0, "prediction": "the Eiffel tower"},
        {"data_id": "1", "prediction": "blue and red and green"},
        {"data_id": "2", "prediction": "scattering of light"},
        {"data_id": "3", "prediction": "Gustave"},
    ])
    return {"csv": csv_path, "preds": preds}


def test_evqa_no_bem_is_labelled_lower_bound(evqa_files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "evqa"
    assert run(_cli(["--task", "evqa", "--predictions", str(evqa_files["preds"]), "--references",
                     str(evqa_files["csv"]), "--no-bem", "--output-dir", str(out)])) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["metrics"]["metric"].startswith("em-only lower bound") and "NOT the official" in res["official_label"]
    assert res["config"]["no_bem"] is True and res["config"]["bem"] is None
    assert res["metrics"]["all"] == 50.0 and res["metrics"]["single_hop"] == pytest.approx(200 / 3)
    assert res["metrics"]["two_hop"] == 0.0 and res["metrics"]["policy"]["empty_reference_alternatives"] == 1
    assert set(res["official"]) >= {"all", "single_hop", "two_hop", "templated", "automatic", "multi_answer", "2_hop"}
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["id"] for s in samples] == ["0", "1", "2", "3"]  # CSV row index
    assert [(s["correct"], s["decided_by"]) for s in samples] == [(1, "em"), (1, "em"), (0, "none"), (0, "none")]


def test_evqa_with_tiny_bem(evqa_files: dict[str, Path], tmp_path: Path, tiny_bem: tuple[Path, Path]) -> None:
    from reag_harness.tasks.evqa.bem import BemScorer

    model, vocab = tiny_bem
    out = tmp_path / "evqa_bem"
    assert run(_cli(["--task", "evqa", "--predictions", str(evqa_files["preds"]), "--references",
                     str(evqa_files["csv"]), "--bem-model", str(model), "--bem-vocab", str(vocab),
                     "--output-dir", str(out)])) == 0
    res = json.loads((out / "results.json").read_text())
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    direct = BemScorer(str(model), str(vocab))
    p2 = direct.scores(["scattering of light"], ["light scattering"], ["Why is the sky blue?"])[0]
    question = "Who built the bridge that crosses this river?"
    p3 = max(direct.scores(["Gustave"] * 2, ["A", "Gustave Eiffel"], [question] * 2))
    assert samples[2]["decided_by"] == "bem" and samples[2]["bem_prob"] == pytest.approx(p2, abs=1e-6)
    assert samples[3]["bem_prob"] == pytest.approx(p3, abs=1e-6)
    assert [s["correct"] for s in samples] == [1, 1, int(p2 >= 0.5), int(p3 >= 0.5)]
    assert res["metrics"]["metric"] == "em+bem" and res["config"]["bem"]["model"] == str(model)
    assert len(res["config"]["bem"]["vocab_sha256"]) == 64
    assert res["metrics"]["all"] == 25.0 * sum(s["correct"] for s in samples)


def test_evqa_json_references_and_errors(evqa_files: dict[str, Path], tmp_path: Path) -> None:
    refs = [{"unique_id": str(i), "question": "q", "answer": a, "question_type": t}
            for i, (a, t) in enumerate([("Eiffel Tower", "templated"), (["red&&blue"], "multi_answer"),
                                        ("x", "automatic"), ("y", "2_hop")])]
    path = tmp_path / "evqa_test.json"
    path.write_text(json.dumps(refs))
    res = score_predictions("evqa", evqa_files["preds"], path, no_bem=True, output_dir=tmp_path / "j")
    assert res["metrics"]["decided_by"]["em"] == 2
    bad = _jsonl(tmp_path / "evqa_bad.jsonl", [{"data_id": "0", "question": "q", "answer": "a",
                                                "question_type": "templated"},
                                               {"data_id": "1", "question": "q", "answer": "a",
                                                "question_type": "single_hop"}])
    with pytest.raises(InputError) as err:
        score_predictions("evqa", evqa_files["preds"], bad, no_bem=True, output_dir=tmp_path)
    assert (err.value.line, err.value.field) == (2, "question_type") and "evqa_bad.jsonl:2" in str(err.value)
    csv_bad = tmp_path / "bad.csv"
    csv_bad.write_text(EVQA_CSV.replace("automatic", "auto"), encoding="utf-8")
    with pytest.raises(InputError) as err:
        score_predictions("evqa", evqa_files["preds"], csv_bad, no_bem=True, output_dir=tmp_path)
    assert (err.value.line, err.value.field) == (5, "question_type")  # the quoted field spans lines 3-4


def test_evqa_bem_without_tensorflow_says_what_to_install(evqa_files: dict[str, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow_text", None)
    with pytest.raises(HarnessError, match=r"pre-flight(.|\n)*pip install 'reag-harness\[evqa\]'"):
        score_predictions("evqa", evqa_files["preds"], evqa_files["csv"], output_dir=tmp_path / "x")
    res = score_predictions("evqa", evqa_files["preds"], evqa_files["csv"], no_bem=True, output_dir=tmp_path / "y")
    assert res["metrics"]["bem_used"] is False


def test_option_conflicts(evqa_files: dict[str, Path], infoseek_files: dict[str, Path], tmp_path: Path) -> None:

    with pytest.raises(HarnessError, match="--no-bem"):
        score_predictions("evqa", evqa_files["preds"], evqa_files["csv"], bem_model="m", no_bem=True,
                          output_dir=tmp_path)
    with pytest.raises(HarnessError, match="EVQA options"):
        score_predictions("infoseek", infoseek_files["preds"], infoseek_files["refs"], infoseek_files["qtypes"],
                          no_bem=True, output_dir=tmp_path)


# --- import cost and evaluate modules ------------------------------------------------------------
def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_scoring_import_is_cheap() -> None:
    proc = _python("import sys, reag_harness.results.scoring, reag_harness.tasks.evqa.metric, "
                   "reag_harness.tasks.evqa.bem, "
                   "reag_harness.tasks.infoseek.metric\n"
                   "bad = [m for m in ('tensorflow', 'torch', 'evaluate', 'datasets') if m in sys.modules]\n"
                   "print(bad)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_evaluate_modules_load_offline_and_match(tmp_path: Path) -> None:
    for task in ("infoseek", "evqa"):
        assert Path(evaluate_module_path(task)).is_file()
    refs = [{"data_id": r["data_id"], "data_split": r["data_split"], "question_type": QTYPES[r["data_id"]],
             "answer_eval": [str(x) for x in r["answer_eval"]] if QTYPES[r["data_id"]] != "NUMERICAL"
             else [str(x) for x in (r["answer_eval"][0] if isinstance(r["answer_eval"], list)
                                    else r["answer_eval"])["range"]]} for r in REFS]
    preds = [PREDS[r["data_id"]] for r in REFS]
    code = f"""
import json, evaluate
from reag_harness.results.scoring import evaluate_module_path
info = evaluate.load(evaluate_module_path("infoseek")).compute(predictions={preds!r}, references={refs!r})
evqa = evaluate.load(evaluate_module_path("evqa")).compute(
    predictions=["Eiffel", "the Eiffel tower"],
    references=[{{"question": "q", "answer": "Eiffel Tower|x", "question_type": "templated"}}] * 2, no_bem=True)
print(json.dumps({{"info": info["official"], "evqa": evqa["all"]}}))
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["info"]["final_score"] == 66.67
    assert got["info"]["unseen_entity_score"] == {"score": 66.67, "score_time": 100.0, "score_num": 100.0,
                                                  "score_string": 0.0}
    assert got["evqa"] == 50.0
