"""Bad input is named (file, line, field / sample id) or, with ``--on-error skip``, recorded and skipped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.core.config import parse_kv
from reag_harness.core.errors import HarnessError, InputError
from reag_harness.core.jsonio import iter_jsonl
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.data.kb.jsonstream import ObjectStream
from reag_harness.interfaces import Runtime
from reag_harness.results.run_files import load_sample_logs
from reag_harness.tasks.evqa.task import EvqaTask
from reag_harness.tasks.infoseek.task import InfoSeekTask

from . import pipeline_plugin
from .kbdata import synth
from .pipeline_plugin import CALLS


@pytest.fixture(scope="module")
def evqa(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_evqa")
    mk = synth()
    kb = mk.write_kb(root / "kb.json", 6, "evqa", seed=3)
    data = mk.write_evqa_queries(root / "json", 4, 6, seed=3)
    csv_data = mk.write_evqa_queries(root / "csv", 4, 6, fmt="csv", seed=3)
    return {"root": root, "kb": kb, "json": data, "csv": csv_data}


def evqa_task(evqa, queries, **args):
    base = {"queries": str(queries), "images": str(evqa["json"]["images"]), "kb": str(evqa["kb"]), "no_bem": "true"}
    return EvqaTask(Runtime(), **{**base, **args})


def jsonl_queries(evqa, tmp_path: Path, edit=None) -> Path:
    rows = json.loads(evqa["json"]["queries"].read_text())
    lines = [json.dumps(r) for r in rows]
    if edit:
        lines = edit(lines, rows)
    path = tmp_path / "queries.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() if isinstance(lines[0], str) else b"\n".join(lines) + b"\n")
    return path


# -- encodings -----------------------------------------------------------------------------------
def test_non_utf8_bytes_name_the_file_and_line(evqa, tmp_path):
    csv_text = evqa["csv"]["queries"].read_bytes()
    lines = csv_text.split(b"\n")
    lines[3] = lines[3].replace(b"synthetic", b"synth\xe9tic", 1)
    bad_csv = tmp_path / "test.csv"
    bad_csv.write_bytes(b"\n".join(lines))
    with pytest.raises(InputError, match=r"test.csv:4: not UTF-8 text: byte 0xe9") as err:
        evqa_task(evqa, bad_csv, images=str(evqa["csv"]["images"])).samples()
    assert err.value.line == 4
    bad_jsonl = jsonl_queries(evqa, tmp_path, lambda ls, _: [x.encode() for x in ls[:2]] +
                              [ls[2].encode().replace(b"entity", b"entit\xff", 1)] + [x.encode() for x in ls[3:]])
    with pytest.raises(InputError, match=r"queries.jsonl:3: not UTF-8 text: byte 0xff"):
        evqa_task(evqa, bad_jsonl).samples()


def test_a_utf8_bom_is_accepted(evqa, tmp_path):
    bom = tmp_path / "test.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + evqa["csv"]["queries"].read_bytes())
    samples = evqa_task(evqa, bom, images=str(evqa["csv"]["images"])).samples()
    assert len(samples) == 4
    bom_jsonl = tmp_path / "bom.jsonl"
    bom_jsonl.write_bytes(b"\xef\xbb\xbf" + jsonl_queries(evqa, tmp_path).read_bytes())
    assert len(evqa_task(evqa, bom_jsonl).samples()) == 4


# -- malformed lines, columns --------------------------------------------------------------------
def test_malformed_jsonl_line_stops_with_the_real_column_or_is_skipped_and_recorded(evqa, tmp_path):
    path = jsonl_queries(evqa, tmp_path, lambda ls, _: ls[:1] + [ls[1][:-1] + " x}"] + ls[2:])
    col = len(path.read_text().splitlines()[1]) - 1  # the "x" before the closing brace
    with pytest.raises(InputError, match=rf"queries.jsonl:2: malformed JSON line: .* \(column {col}\)"):
        evqa_task(evqa, path).samples()
    task = evqa_task(evqa, path, on_error="skip")
    assert [s.id for s in task.samples()] == ["q0", "q2", "q3"]
    assert len(task.skipped_inputs) == 1 and task.skipped_inputs[0].startswith(f"{path}:2: malformed JSON line")


def test_the_jsonl_reader_counts_lines_and_columns(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n' + '{"b": "' + "y" * 200 + '" z}\n')
    with pytest.raises(InputError, match=r"x.jsonl:3: malformed JSON line: .*\(column 210\)"):
        list(iter_jsonl(path))
    bad: list[InputError] = []
    assert list(iter_jsonl(path, bad.append)) == [(1, {"a": 1})] and bad[0].line == 3


def test_a_truncated_kb_reports_the_column_in_the_file_not_the_buffer(tmp_path):
    path = tmp_path / "kb.json"
    text = '{"k1": {"title": "a"}, "k2": {"title": "' + "b" * 300 + '", "x": [1, 2'
    path.write_text(text)
    with pytest.raises(InputError) as err:
        list(ObjectStream(str(path), block_chars=64))
    assert err.value.line == 1
    col = int(str(err.value).rsplit("column ", 1)[1].rstrip(")"))
    with pytest.raises(json.JSONDecodeError) as whole:
        json.loads(text)
    assert col == whole.value.colno  # the position in the line, not in the 64-character read buffer


# -- duplicates, empty answers, question types ---------------------------------------------------
def test_evqa_duplicate_ids_name_file_and_line(evqa, tmp_path):
    path = jsonl_queries(evqa, tmp_path, lambda ls, rows: ls[:3] + [json.dumps({**rows[3], "unique_id": "q1"})])
    with pytest.raises(InputError, match=r"queries.jsonl:4: field 'unique_id' duplicate id 'q1' \(first on line 2\)"):
        evqa_task(evqa, path).samples()


@pytest.fixture(scope="module")
def infoseek(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_infoseek")
    mk = synth()
    kb = mk.write_kb(root / "kb.json", 6, "infoseek", seed=3)
    data = mk.write_infoseek_queries(root, 3, 6, seed=3)
    return {"kb": kb, **data}


def infoseek_task(infoseek, lines, qtypes=None, **args):
    root = infoseek["queries"].parent
    q = root / "edited.jsonl"
    q.write_text("".join(json.dumps(x) + "\n" for x in lines))
    qt = None
    if qtypes is not None:
        qt = root / "edited_qtypes.jsonl"
        qt.write_text("".join(json.dumps({"data_id": k, "question_type": v}) + "\n" for k, v in qtypes.items()))
    return InfoSeekTask(Runtime(), queries=str(q), images=str(infoseek["images"]), kb=str(infoseek["kb"]),
                        qtypes=str(qt or infoseek["qtypes"]), **args)


def rows(infoseek):
    return [json.loads(x) for x in infoseek["queries"].read_text().splitlines()]


def test_infoseek_empty_answer_is_reported_as_empty(infoseek):
    lines = rows(infoseek)
    lines[1]["answer"] = []
    with pytest.raises(InputError, match=r"edited.jsonl:2: field 'answer' is empty"):
        infoseek_task(infoseek, lines).samples()


def test_infoseek_question_types_are_validated_when_the_task_loads(infoseek):
    lines = rows(infoseek)  # STRING, NUMERICAL, TIME
    ids = [x["data_id"] for x in lines]
    with pytest.raises(InputError, match=rf"edited.jsonl:1: field 'question_type' {ids[0]}: unknown question type "
                                         r"'STRNG'"):
        infoseek_task(infoseek, lines, {ids[0]: "STRNG", ids[1]: "NUMERICAL", ids[2]: "TIME"}).samples()
    # a question typed STRING whose answer is a numeric range would crash the scorer after all generation
    with pytest.raises(InputError, match=rf"edited.jsonl:2: field 'answer_eval' {ids[1]}: a STRING question"):
        infoseek_task(infoseek, lines, {ids[0]: "STRING", ids[1]: "STRING", ids[2]: "TIME"}).samples()
    skipped = infoseek_task(infoseek, lines, {ids[0]: "STRING", ids[1]: "STRING", ids[2]: "TIME"},
                            on_error="skip").samples()
    assert "a STRING question" in skipped[1].meta["input_error"] and "input_error" not in skipped[0].meta


# -- the run: input errors are skipped whatever the retriever, images named ------------------------
@pytest.fixture
def lexical(tmp_path):
    register_plugin(pipeline_plugin, "test-pipeline")
    CALLS.clear()
    yield dict(critic="none", generator="test-first-number", prompt_style="test-context", quiet=True,
               no_leaderboard=True, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    unregister_plugin("test-pipeline")


def test_on_error_skip_records_input_errors_without_retrieval(evqa, tmp_path, lexical):
    def edit(ls, rs):
        return [json.dumps({**rs[0], "dataset_image_ids": "nope"}), json.dumps({**rs[1], "question": " "}),
                json.dumps({**rs[2], "answer": ""}), ls[3], "{not json"]
    path = jsonl_queries(evqa, tmp_path, edit)
    task_args = {"queries": str(path), "images": str(evqa["json"]["images"]), "kb": str(evqa["kb"]), "no_bem": True}
    res = evaluate(task="evqa", task_args=task_args, retriever="none", on_error="skip", **lexical)
    assert CALLS["generate"] == 1  # only the good question reaches the generator
    assert res.errors["count"] == 3 and res.errors["by_stage"] == {"input": 3}
    assert res.errors["skipped_input_lines"] == [f"{path}:5: malformed JSON line: Expecting property name enclosed "
                                                 "in double quotes (column 2)"]
    logs = {r["id"]: r for r in load_sample_logs(Path(lexical["output_dir"]).glob("evqa__*").__next__())}
    assert logs["q0"]["error"].startswith(f"input: {path}:1: field 'dataset_image_ids'")
    assert logs["q1"]["answer"] is None and logs["q1"]["score"]["correct"] == 0


def test_a_corrupt_image_names_the_query_file_line_and_sample(evqa, tmp_path, tiny_path):
    images = tmp_path / "images"
    images.mkdir()
    for p in evqa["json"]["images"].iterdir():
        (images / p.name).write_bytes(p.read_bytes())
    rows_ = json.loads(evqa["json"]["queries"].read_text())
    (images / f"{rows_[2]['dataset_image_ids']}.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    task_args = {"queries": str(evqa["json"]["queries"]), "images": str(images), "kb": str(evqa["kb"]),
                 "no_bem": True}
    common = dict(task="evqa", task_args=task_args, retriever="none", critic="none", generator="tiny-qwen2.5-vl",
                  prompt_style="direct", quiet=True, no_leaderboard=True, output_dir=str(tmp_path / "runs"),
                  cache_dir=str(tmp_path / "stages"), generator_args={"max_new_tokens": 2})
    with pytest.raises(HarnessError) as err:  # found by the pre-flight's image check, before any stage
        evaluate(**common)
    message = str(err.value)
    assert re.search(re.escape(str(evqa["json"]["queries"])) + r":\d+: field 'image' sample 'q2'", message), message
    assert "unreadable image" in message
    res = evaluate(**common, on_error="skip")
    assert res.errors["count"] == 1
    logs = {r["id"]: r for r in load_sample_logs(next((tmp_path / "runs").glob("evqa__*")))}
    assert "sample 'q2'" in logs["q2"]["error"] and logs["q0"]["error"] is None


# -- component arguments ---------------------------------------------------------------------------
def test_args_accept_json_values_with_commas_and_dicts():
    got = parse_kv('queries="/data/a,b/test.csv",crop=true,crop_args={"detector": "/m/gd", "box": [0.3, 0.25]},k=3')
    assert got == {"queries": "/data/a,b/test.csv", "crop": True, "crop_args": {"detector": "/m/gd",
                                                                                 "box": [0.3, 0.25]}, "k": 3}
    assert parse_kv('{"crop_args": {"detector": "x"}}') == {"crop_args": {"detector": "x"}}
    with pytest.raises(HarnessError, match="crop_args: .*not valid JSON"):
        parse_kv("crop_args={detector: x}")
