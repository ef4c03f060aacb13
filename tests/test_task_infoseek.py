"""The InfoSeek task on (tiny synthetic) real-format data: loaders, joins, selection, official scoring."""

from __future__ import annotations

import json

import pytest

from reag_harness.core.errors import InputError
from reag_harness.data.kb.build import build_store
from reag_harness.data.kb.store import KBStore
from reag_harness.interfaces import Runtime, Task
from reag_harness.tasks.infoseek.task import InfoSeekTask

from .kbdata import synth

N_PAGES, N_QUERIES = 6, 6


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("infoseek")
    s = synth()
    kb_json = s.write_kb(root / "kb.json", N_PAGES, "infoseek", seed=2)
    build_store(str(kb_json), str(root / "store"), "infoseek")
    return {"root": root, "kb_json": kb_json, "store": root / "store",
            **s.write_infoseek_queries(root, N_QUERIES, N_PAGES, seed=2)}


def task(data, **args):
    base = {"queries": str(data["queries"]), "images": str(data["images"]), "kb": str(data["store"]),
            "qtypes": str(data["qtypes"])}
    return InfoSeekTask(Runtime(), **{**base, **args})


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def write_lines(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_samples_meta(data):
    t = task(data)
    assert isinstance(t, Task) and t.headline_metric == "final_score"
    samples = t.samples()
    rows = lines(data["queries"])
    assert [s.id for s in samples] == [r["data_id"] for r in rows]
    for s, r in zip(samples, rows):
        assert s.meta["split"] == r["data_split"] and s.meta["answer_eval"] == r["answer_eval"]
        assert s.meta["gold_pages"] == [r["passage_id"]] and s.meta["passage_id"] == r["passage_id"]
        assert s.image.endswith(r["image_id"] + ".jpg") and s.references == tuple(r["answer"])
    assert [s.meta["question_type"] for s in samples[:3]] == ["STRING", "NUMERICAL", "TIME"]
    kb = t.knowledge_base()
    assert isinstance(kb, KBStore) and kb.kind == "infoseek" and samples[0].meta["gold_pages"][0] in kb


def test_split_and_type_selection(data):
    t = task(data)
    uq = t.samples(split="unseen_question")
    assert uq and all(s.meta["split"] == "val_unseen_question" for s in uq) and len(uq) == N_QUERIES // 2
    assert len(t.samples(split="val_unseen_entity")) == N_QUERIES // 2
    num = task(data, question_types="numerical|time").samples()
    assert {s.meta["question_type"] for s in num} == {"NUMERICAL", "TIME"}
    assert len(task(data, split="unseen_entity").samples(limit=1)) == 1


def test_score_and_aggregate_official(data):
    t = task(data)
    samples = t.samples()
    answers = {"STRING": "Entity", "NUMERICAL": "about 100", "TIME": "1990"}
    preds = [answers[s.meta["question_type"]] for s in samples]
    scores = t.score(samples, preds)
    assert all(sc["correct"] == 1 for sc in scores)
    agg = t.aggregate(samples, scores)
    assert agg["final_score"] == 100.0 and agg["official"]["final_score"] == 100.0
    preds[0] = None  # missing counts as wrong in the harness number, is skipped by the official one
    preds[1] = "5"   # outside [90, 110]
    scores = t.score(samples, preds)
    assert scores[0] == {"correct": 0, "missing": True} and scores[1]["correct"] == 0
    agg = t.aggregate(samples, scores)
    assert agg["unseen_question"]["score"] == pytest.approx(round(100 * 2 / 3, 2))
    # sample 0 (unseen_question) is missing: left out of the official number; sample 1 is unseen_entity
    assert agg["coverage"]["n_missing"] == 1 and agg["official"]["unseen_question_score"]["score"] == 100.0
    assert agg["unseen_entity"]["score"] == agg["official"]["unseen_entity_score"]["score"] == 66.67


def test_references_file_fills_answer_eval_and_split(data, tmp_path):
    rows = lines(data["queries"])
    bare = write_lines(tmp_path / "reag.jsonl", [{k: v for k, v in r.items() if k not in ("answer_eval", "data_split")}
                                                 for r in rows])
    with pytest.raises(InputError, match="references=infoseek_val.jsonl") as err:
        task(data, queries=str(bare)).samples()
    assert (err.value.path, err.value.line, err.value.field) == (str(bare), 1, "answer_eval")
    refs = write_lines(tmp_path / "infoseek_val.jsonl", rows)
    joined = task(data, queries=str(bare), references=str(refs)).samples()
    assert [s.meta["answer_eval"] for s in joined] == [r["answer_eval"] for r in rows]


def test_qtypes_file_must_cover_every_id(data, tmp_path):
    q = write_lines(tmp_path / "qt.jsonl", lines(data["qtypes"])[1:])
    with pytest.raises(InputError, match="not in the question-type file") as err:
        task(data, qtypes=str(q)).samples()
    assert (err.value.line, err.value.field) == (1, "question_type")


def test_bad_json_line_missing_image_missing_field(data, tmp_path):
    text = data["queries"].read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(text[:2] + ['{"data_id": "x", "question": '] + text[2:]) + "\n")
    with pytest.raises(InputError, match="malformed JSON line") as err:
        task(data, queries=str(bad)).samples()
    assert (err.value.path, err.value.line) == (str(bad), 3)

    rows = lines(data["queries"])
    rows[3]["image_id"] = "oven_missing"
    q = write_lines(tmp_path / "img.jsonl", rows)
    with pytest.raises(InputError, match="image not found") as err:
        task(data, queries=str(q)).samples()
    assert (err.value.line, err.value.field) == (4, "image_id")
    skipped = task(data, queries=str(q), on_error="skip").samples()
    assert skipped[3].image is None and "oven_missing" in skipped[3].meta["input_error"]
    assert task(data, queries=str(q), on_error="skip").score(skipped[3:4], ["x"]) == [{"correct": 0, "missing": True}]

    del rows[3]["question"]
    rows[3]["image_id"] = lines(data["queries"])[3]["image_id"]
    q = write_lines(tmp_path / "field.jsonl", rows)
    with pytest.raises(InputError) as err:
        task(data, queries=str(q)).samples()
    assert (err.value.line, err.value.field) == (4, "question")


def test_duplicate_data_id(data, tmp_path):
    rows = lines(data["queries"])
    q = write_lines(tmp_path / "dup.jsonl", rows + [rows[0]])
    with pytest.raises(InputError, match="repeats line 1") as err:
        task(data, queries=str(q)).samples()
    assert err.value.line == N_QUERIES + 1


def test_example_yaml_keys_are_task_arguments():
    from pathlib import Path

    import reag_harness.tasks.infoseek as pkg

    t = InfoSeekTask(Runtime(), config=str(Path(pkg.__file__).parent / "task.example.yaml"))
    assert t.args["qtypes"].endswith("infoseek_val_qtype.jsonl")
