"""Values read from file rows are checked for type and domain: wrong types and non-finite numbers are
errors naming file:line:field (or recorded skips), never tracebacks or silent coercions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.cli.app import main
from reag_harness.core.errors import InputError
from reag_harness.core.jsonio import iter_jsonl
from reag_harness.core.plugin_manager import get_registry, register_plugin, unregister_plugin
from reag_harness.interfaces import Runtime
from reag_harness.results.run_files import load_sample_logs
from reag_harness.results.scoring_inputs import read_predictions
from reag_harness.tasks.demo.task import DemoTask, read_questions

from . import pipeline_plugin
from .test_runner import LEXICAL, run_folder


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_jsonl_refuses_non_finite_numbers_naming_the_line(tmp_path, number) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a", "score": 1.0}\n' + f'{{"id": "b", "score": {number}}}\n')
    with pytest.raises(InputError, match=r"rows.jsonl:2: .*(non-finite|beyond float range)"):
        list(iter_jsonl(path))
    bad: list[InputError] = []
    assert [row["id"] for _, row in iter_jsonl(path, bad.append)] == ["a"] and bad[0].line == 2  # --on-error skip


QUESTION = {"id": "q1", "question": "What is it?", "answers": ["x"], "entity": "E", "image": "a.jpg"}


@pytest.mark.parametrize("field, value", [("id", ["q1"]), ("id", 1.5), ("id", True), ("question", 7),
                                          ("answers", "x"), ("answers", [1]), ("image", {"path": "a.jpg"})])
def test_query_file_rows_are_type_checked(tmp_path, field, value) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps(QUESTION) + "\n" + json.dumps({**QUESTION, "id": "q2", field: value}) + "\n")
    with pytest.raises(InputError, match=rf"questions.jsonl:2: field '{field}(\[0\])?'"):
        read_questions(path)
    path.write_text(json.dumps({**QUESTION, "id": 7}) + "\n")
    assert read_questions(path)[0][1]["id"] == "7"  # an integer id is an id (its string)


@pytest.fixture(scope="module")
def demo():
    task = DemoTask()
    return task.samples(limit=2), task.knowledge_base()


@pytest.mark.parametrize("pages, field", [([["K", "high"]], "pages[0]"), ([["K", True]], "pages[0]"),
                                          ([{"key": "K", "score": None}], "pages[0].score"),
                                          ([["K", 1e308 * 10]], None), ("K", "pages")])
def test_precomputed_ranking_scores_and_ids_are_checked(tmp_path, demo, pages, field) -> None:
    samples, kb = demo
    key = next(iter(kb.keys()))
    pages = json.loads(json.dumps(pages).replace('"K"', json.dumps(key)))
    path = tmp_path / "ranking.jsonl"
    path.write_text(json.dumps({"id": samples[0].id, "pages": [key]}) + "\n"
                    + json.dumps({"id": samples[1].id, "pages": pages}) + "\n")
    retriever = get_registry().create("retriever", "precomputed", Runtime(), {"file": str(path)})
    match = rf"ranking.jsonl:2: field '{re.escape(field)}'" if field else r"ranking.jsonl:2: .*finite"
    with pytest.raises(InputError, match=match):
        retriever.retrieve(samples, kb)


def test_precomputed_ids_must_be_strings_or_integers(tmp_path, demo) -> None:
    samples, kb = demo
    path = tmp_path / "ranking.jsonl"
    path.write_text(json.dumps({"id": [samples[0].id], "pages": []}) + "\n")
    with pytest.raises(InputError, match=r"ranking.jsonl:1: field 'id' an id must be"):
        get_registry().create("retriever", "precomputed", Runtime(), {"file": str(path)}).retrieve(samples, kb)
    as_json = tmp_path / "ranking.json"
    as_json.write_text(json.dumps({samples[0].id: {"pages": [["k", 0.5]]}}).replace("0.5", "NaN"))
    with pytest.raises(InputError, match=r"ranking.json: not valid JSON: non-finite number NaN"):
        get_registry().create("retriever", "precomputed", Runtime(), {"file": str(as_json)}).retrieve(samples, kb)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        res = evaluate(**dict(LEXICAL, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"), limit=3))
    finally:
        unregister_plugin("test-pipeline")
    return run_folder(res)


def corrupt(folder: Path, line: int, edit) -> None:
    path = folder / "samples.jsonl"
    rows = path.read_text().splitlines()
    row = json.loads(rows[line - 1])
    edit(row)
    rows[line - 1] = json.dumps(row)  # json.dumps writes NaN / Infinity as Python does
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.parametrize("edit, field", [
    (lambda r: r["passages"][0].update(p_yes=float("nan")), None),
    (lambda r: r["passages"][0].update(p_yes=1.7), "passages[0].p_yes"),
    (lambda r: r["passages"][0].update(p_yes="0.5"), "passages[0].p_yes"),
    (lambda r: r["passages"][0].update(kept="yes"), "passages[0].kept"),
    (lambda r: r.update(id={"x": 1}), "id"),
    (lambda r: r["score"].update(correct=float("inf")), None),
    (lambda r: r["score"].update(correct=1e300 * 1e300), None),
    (lambda r: r.update(retrieved_pages=[["k", "0.3"]]), "retrieved_pages[0][1]"),
    (lambda r: r.update(answer=12345), "answer"),
])
def test_samples_read_back_by_compare_merge_and_score_are_checked(run_dir, capsys, edit, field) -> None:
    corrupt(run_dir, 2, edit)
    where = (rf"samples.jsonl:2: field '{re.escape(field)}'" if field
             else r"samples.jsonl:2: malformed JSON line: (non-finite|number)")
    with pytest.raises(InputError, match=where):
        load_sample_logs(run_dir)
    with pytest.raises(InputError, match=where):
        read_predictions(run_dir / "samples.jsonl")
    for argv in (["compare", str(run_dir), str(run_dir), "--n-boot", "20"],
                 ["merge", str(run_dir), "--output-dir", str(run_dir.parent / "merged"), "--no-leaderboard"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "samples.jsonl:2" in err and "Traceback" not in err


def test_passage_texts_indices_are_checked(run_dir) -> None:
    path = run_dir / "passage_texts.jsonl"
    path.write_text(json.dumps({"page_key": "k", "texts": {"first": "text"}}) + "\n")
    with pytest.raises(InputError, match=r"passage_texts.jsonl:1: field 'texts'"):
        load_sample_logs(run_dir)


@pytest.mark.parametrize("content, match", [
    ('{"data_id": ["a"], "prediction": "x"}\n', r"preds.jsonl:1: field 'data_id'"),
    ('{"data_id": 1.5, "prediction": "x"}\n', r"preds.jsonl:1: field 'data_id'"),
    ('{"data_id": "a", "prediction": "x", "conf": NaN}\n', r"preds.jsonl:1: invalid JSON: non-finite"),
])
def test_prediction_files_for_score_are_checked(tmp_path, content, match) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        read_predictions(path)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_evqa_query_ids_and_non_finite_numbers_are_checked(tmp_path, suffix) -> None:
    from reag_harness.data.kb.inputs import ImageResolver
    from reag_harness.tasks.evqa.loader import load_evqa

    good = {"question": "Q?", "answer": "a", "question_type": "templated", "wikipedia_url": "https://x.org",
            "dataset_image_ids": "img1"}
    rows = [{**good, "data_id": "e1"}, {**good, "data_id": ["e2"]}]
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "img1.jpg")
    path = tmp_path / f"evqa{suffix}"
    dump = (lambda rs: json.dumps(rs, indent=1)) if suffix == ".json" else (
        lambda rs: "".join(json.dumps(r) + "\n" for r in rs))
    path.write_text(dump(rows))
    resolver = ImageResolver(str(tmp_path))
    with pytest.raises(InputError, match=r"evqa.jsonl?:\d+: field 'data_id' an id must be"):
        load_evqa(str(path), resolver)
    path.write_text(dump([{**good, "data_id": "e1", "evidence_section_id": 0.5}]).replace("0.5", "NaN"))
    with pytest.raises(InputError, match=r"evqa.jsonl?:\d+: malformed JSON.*non-finite number NaN"):
        load_evqa(str(path), resolver)


def test_score_reference_ids_are_checked(tmp_path) -> None:
    from reag_harness.results.scoring_inputs import read_infoseek_references

    path = tmp_path / "infoseek_val.jsonl"
    path.write_text(json.dumps({"data_id": {"id": 1}, "data_split": "val_unseen_question", "answer_eval": ["a"],
                                "question_type": "STRING"}) + "\n")
    with pytest.raises(InputError, match=r"infoseek_val.jsonl:1: field 'data_id' an id must be"):
        read_infoseek_references(path)
