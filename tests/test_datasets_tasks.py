"""Tasks whose questions come from a Hugging Face ``datasets`` dataset (``dataset=PATH_OR_ID``)."""

from __future__ import annotations

import json

import pytest

from reag_harness.api import evaluate
from reag_harness.core.errors import HarnessError, InputError
from reag_harness.tasks.demo.task import HERE, DemoTask
from tests.kbdata import synth


def demo_rows() -> list[dict]:
    return [json.loads(line) for line in (HERE / "questions.jsonl").read_text().splitlines() if line.strip()]


def test_demo_questions_saved_as_a_datasets_folder_give_identical_samples(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list(demo_rows())
    ds.save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "parquet").mkdir()
    ds.to_parquet(str(tmp_path / "parquet" / "questions.parquet"))
    want = DemoTask().samples()
    for spec in ("saved", "parquet"):
        task = DemoTask(dataset=str(tmp_path / spec))
        assert task.samples() == want
        assert task.fingerprint() != DemoTask().fingerprint()  # the data's own fingerprint, not the file's

    def run(**task_args) -> list[dict]:
        out = tmp_path / f"runs{len(task_args)}"
        evaluate(task="demo", task_args=task_args, retriever="oracle-page", critic="none",
                 generator="tiny-qwen2.5-vl", prompt_style="direct", limit=3, output_dir=str(out),
                 no_leaderboard=True, quiet=True, cache=False)
        lines = next(out.iterdir()).joinpath("samples.jsonl").read_text().splitlines()
        return [{k: r[k] for k in ("id", "question", "image", "references", "meta", "retrieved_pages")}
                for r in map(json.loads, lines)]

    assert run(dataset=str(tmp_path / "saved")) == run()


def test_dataset_rows_are_validated_like_file_lines(tmp_path):
    import datasets

    rows = demo_rows()[:4]
    rows[2]["question"] = None
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(InputError) as err:
        DemoTask(dataset=str(tmp_path / "bad")).samples()
    assert f"dataset {tmp_path / 'bad'}:3" in str(err.value) and "field 'question'" in str(err.value)
    with pytest.raises(HarnessError, match="offline"):
        DemoTask(dataset="no-such-user/no-such-dataset-reag").samples()
    dd = datasets.DatasetDict({"a": datasets.Dataset.from_list(rows[:2]), "b": datasets.Dataset.from_list(rows[:2])})
    dd.save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(HarnessError, match="dataset_split"):
        DemoTask(dataset=str(tmp_path / "dict")).samples()
    assert len(DemoTask(dataset=str(tmp_path / "dict"), dataset_split="b").samples()) == 2


def test_evqa_and_infoseek_from_datasets_equal_their_files(tmp_path):
    import datasets

    from reag_harness.core.plugin_manager import get_registry
    from reag_harness.interfaces import Runtime

    mk = synth()
    mk.write_kb(tmp_path / "kb.json", 20, "evqa")
    data = mk.write_evqa_queries(tmp_path / "q", 6, 20)
    rows = json.loads(data["queries"].read_text())
    for r in rows:
        r["evidence_section_id"] = str(r["evidence_section_id"])  # one Arrow type per column
    datasets.Dataset.from_list(rows).to_json(str(tmp_path / "evqa.jsonl"))

    def strip(samples):
        return [(s.id, s.question, s.image, s.references,
                 {k: v for k, v in s.meta.items() if k not in ("source_file", "source_line", "split")})
                for s in samples]

    make = get_registry().create
    base = {"kb": str(tmp_path / "kb.json"), "images": str(data["images"]), "no_bem": True}
    from_file = make("task", "evqa", Runtime(), {**base, "queries": str(data["queries"])}).samples()
    from_ds = make("task", "evqa", Runtime(), {**base, "dataset": str(tmp_path / "evqa.jsonl")}).samples()
    assert strip(from_ds) == strip(from_file) and len(from_ds) == 6
    with pytest.raises(HarnessError, match="not both"):
        make("task", "evqa", Runtime(), {**base, "queries": str(data["queries"]),
                                         "dataset": str(tmp_path / "evqa.jsonl")}).samples()

    mk.write_kb(tmp_path / "kb_is.json", 20, "infoseek")
    info = mk.write_infoseek_queries(tmp_path / "iq", 6, 20)
    base = {"kb": str(tmp_path / "kb_is.json"), "images": str(info["images"]), "qtypes": str(info["qtypes"])}
    from_file = make("task", "infoseek", Runtime(), {**base, "queries": str(info["queries"])}).samples()
    plain = [json.loads(x) for x in info["queries"].read_text().splitlines()]
    for x in plain:
        x.pop("answer_eval")  # mixed types (lists of str or of ranges): from the references file instead
    datasets.Dataset.from_list(plain).save_to_disk(str(tmp_path / "is_saved"))
    refs = tmp_path / "refs.jsonl"
    refs.write_text(info["queries"].read_text())
    from_ds = make("task", "infoseek", Runtime(), {**base, "dataset": str(tmp_path / "is_saved"),
                                                   "references": str(refs)}).samples()
    assert strip(from_ds) == strip(from_file)
