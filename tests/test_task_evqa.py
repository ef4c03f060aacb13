"""The EVQA task on (tiny synthetic) real-format data: loaders, selection, KB, scoring, bad input."""

from __future__ import annotations

import json

import pytest

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.data.kb.build import build_store
from reag_harness.data.kb.memory import InMemoryKB
from reag_harness.data.kb.store import KBStore
from reag_harness.interfaces import Runtime, Task
from reag_harness.tasks.evqa.task import EvqaTask

from .kbdata import synth

N_PAGES, N_QUERIES = 12, 8


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evqa")
    s = synth()
    kb_json = s.write_kb(root / "kb.json", N_PAGES, "evqa", seed=1)
    build_store(str(kb_json), str(root / "store"), "evqa")
    paths = s.write_evqa_queries(root, N_QUERIES, N_PAGES, fmt="json", seed=1)
    csv_dir = root / "csv"
    csv_paths = s.write_evqa_queries(csv_dir, N_QUERIES, N_PAGES, fmt="csv", seed=1)
    return {"root": root, "kb_json": kb_json, "store": root / "store", **paths, "csv": csv_paths}


def task(data, **args):
    base = {"queries": str(data["queries"]), "images": str(data["images"]), "kb": str(data["store"]), "no_bem": "true"}
    return EvqaTask(Runtime(), **{**base, **args})


def test_protocol_and_samples(data):
    t = task(data)
    assert isinstance(t, Task) and t.headline_metric == "single_hop" and "generator" not in t.default_components
    samples = t.samples()
    assert len(samples) == N_QUERIES and [s.id for s in samples] == [f"q{i}" for i in range(N_QUERIES)]
    rows = json.loads(data["queries"].read_text())
    for s, row in zip(samples, rows):
        assert s.question == row["question"] and s.references == tuple(row["answer"].split("|"))
        assert s.meta["gold_pages"] == row["wikipedia_url"].split("|")
        assert s.image and s.image.endswith(f"{row['dataset_image_ids']}.png")
        assert s.meta["question_type"] == row["question_type"]
    two_hop = [s for s in samples if s.meta["question_type"] == "2_hop"]
    assert two_hop and all(s.meta["evidence_section_id"] is None and s.meta["evidence_section_ids"] == [0, 0]
                           and len(s.meta["gold_pages"]) == 2 for s in two_hop)
    assert all(s.meta["evidence_section_id"] == 0 for s in samples if s.meta["question_type"] != "2_hop")
    kb = t.knowledge_base()
    assert isinstance(kb, KBStore) and all(g in kb for g in samples[0].meta["gold_pages"])


def test_official_csv_matches_json(data):
    t = task(data, queries=str(data["csv"]["queries"]), images=str(data["csv"]["images"]))
    samples = t.samples()
    ref = task(data).samples()
    assert [s.id for s in samples] == [f"test-{i}" for i in range(N_QUERIES)]
    assert [(s.question, s.references, s.meta["gold_pages"], s.meta["evidence_section_id"]) for s in samples] == \
        [(s.question, s.references, s.meta["gold_pages"], s.meta["evidence_section_id"]) for s in ref]
    assert samples[0].meta["source_line"] == 2 and samples[0].meta["split"] == "test"


def test_selection_limit_types_split(data):
    t = task(data)
    assert len(t.samples(limit=3)) == 3
    assert {s.meta["question_type"] for s in task(data, question_types="2_hop").samples()} == {"2_hop"}
    single = task(data, question_types="single_hop").samples()
    assert single and all(s.meta["question_type"] != "2_hop" for s in single) and len(single) == 6
    assert task(data, question_types="templated|automatic").samples(limit=1)[0].meta["question_type"] == "templated"
    assert len(t.samples(split="queries")) == N_QUERIES and t.samples(split="val") == []


def test_yaml_config_relative_paths(data):
    cfg = data["root"] / "evqa.yaml"
    cfg.write_text("queries: queries.json\nimages: images\nkb: store\nno_bem: true\nquestion_types: 2_hop\n")
    t = EvqaTask(Runtime(), config=str(cfg))
    assert [s.id for s in t.samples()] == [s.id for s in task(data, question_types="2_hop").samples()]
    cfg.write_text("queries: queries.json\nbogus: 1\n")
    with pytest.raises(InputError, match="unknown task argument") as err:
        EvqaTask(Runtime(), config=str(cfg))
    assert err.value.field == "bogus"
    with pytest.raises(HarnessError, match="unknown task argument 'wat'"):
        EvqaTask(Runtime(), wat=1)


def test_missing_kb_argument_is_clear(data):
    with pytest.raises(HarnessError, match="needs kb=PATH"):
        task(data, kb="").knowledge_base()


def test_small_kb_json_loads_in_memory(data):
    t = task(data, kb=str(data["kb_json"]))
    kb = t.knowledge_base()
    assert isinstance(kb, InMemoryKB) and len(kb) == N_PAGES
    store = KBStore(data["store"])
    key = t.samples()[0].meta["gold_pages"][0]
    assert kb.passages(key) == store.passages(key)


def test_component_args(data, tmp_path):
    (tmp_path / "idx").mkdir()
    t = task(data, index=str(tmp_path / "idx"), lens=str(data["lens"]))
    assert t.component_args("retriever", "eva-clip") == {"index": str(tmp_path / "idx")}
    knn = task(data, index=str(tmp_path / "idx" / "knn.index")).component_args("retriever", "eva-clip")
    assert knn == {"index": str(tmp_path / "idx")}
    assert t.component_args("retriever", "google-lens") == {"lens": str(data["lens"])}
    assert t.component_args("critic", "reag-critic") == {} and task(data).component_args("retriever", "eva-clip") == {}


def test_fingerprint_tracks_content_and_selection(data, tmp_path):
    t = task(data)
    t.samples()
    fp = t.fingerprint()
    t2 = task(data)
    t2.samples()
    assert t2.fingerprint() == fp
    t2.samples(limit=2)
    assert t2.fingerprint() != fp
    copy = tmp_path / "q.json"
    rows = json.loads(data["queries"].read_text())
    rows[0]["question"] = "changed?"
    copy.write_text(json.dumps(rows))
    t3 = task(data, queries=str(copy))
    t3.samples()
    assert t3.fingerprint() != fp


def test_score_without_bem_is_labelled(data):
    t = task(data)
    samples = t.samples()
    # multi_answer references are "red&&blue": a candidate lists items with "," / "and" (set IoU >= 0.5).
    right = ["red and blue" if s.meta["question_type"] == "multi_answer" else s.references[0] for s in samples]
    preds = [right[i] if i % 2 == 0 else "wrong" for i in range(len(samples))]
    preds[-1] = None
    scores = t.score(samples, preds)
    mt = [i for i, s in enumerate(samples) if s.meta["question_type"] == "multi_answer"]
    assert all(scores[i]["correct"] == (1 if i % 2 == 0 else 0) for i in range(len(samples) - 1))
    assert scores[-1]["missing"] and all(sc["decided_by"] in ("em", "none") for sc in scores)
    assert mt and scores[mt[0]]["question_type"] == "multi_answer"
    agg = t.aggregate(samples, scores)
    assert agg["metric"] == "em-only lower bound (no BEM)" and agg["bem_used"] is False
    single = [sc["correct"] for s, sc in zip(samples, scores) if s.meta["question_type"] != "2_hop"]
    assert agg["single_hop"] == pytest.approx(100 * sum(single) / len(single))


def test_score_with_tiny_bem(data, tmp_path):
    from reag_harness.core.errors import MissingDependencyError
    from reag_harness.models.bem_tensorflow import require_tensorflow
    from reag_harness.models.tiny.bem import build_tiny_bem

    try:
        require_tensorflow()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))

    model, vocab = build_tiny_bem(tmp_path / "bem")
    t = task(data, no_bem="false", bem_model=str(model), bem_vocab=str(vocab))
    samples = t.samples(limit=2)
    scores = t.score(samples, [samples[0].references[0], "something else entirely"])
    assert scores[0]["decided_by"] == "em" and scores[1]["decided_by"] == "bem"
    assert 0.0 <= scores[1]["bem_prob"] <= 1.0
    assert t.aggregate(samples, scores)["metric"] == "em+bem"


# -- bad input: file, line and field in the message --------------------------------------------------------------

def _write_rows(path, rows):
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in rows) + "\n]\n")
    return path


def test_missing_image_names_file_line_field(data, tmp_path):
    rows = json.loads(data["queries"].read_text())
    rows[2]["dataset_image_ids"] = "no_such_image"
    q = _write_rows(tmp_path / "q.json", rows)
    with pytest.raises(InputError, match="image not found") as err:
        task(data, queries=str(q)).samples()
    assert (err.value.path, err.value.line, err.value.field) == (str(q), 4, "dataset_image_ids")
    assert str(err.value).startswith(f"{q}:4: field 'dataset_image_ids'")
    # on_error=skip keeps the sample, marked, with no image: never a silent black image
    kept = task(data, queries=str(q), on_error="skip").samples()
    assert len(kept) == N_QUERIES and kept[2].image is None and "image not found" in kept[2].meta["input_error"]


def test_malformed_json_and_missing_field(data, tmp_path):
    bad = tmp_path / "bad.json"
    first = json.dumps(json.loads(data["queries"].read_text())[0])
    bad.write_text(f'[\n{first},\n{{"question": "b",,}}\n]')
    with pytest.raises(InputError, match="malformed JSON") as err:
        task(data, queries=str(bad)).samples()
    assert err.value.line == 3
    rows = json.loads(data["queries"].read_text())
    del rows[1]["question_type"]
    q = _write_rows(tmp_path / "q.json", rows)
    with pytest.raises(InputError) as err:
        task(data, queries=str(q)).samples()
    assert (err.value.line, err.value.field) == (3, "question_type")


def test_csv_bad_row_and_header(data, tmp_path):
    text = data["csv"]["queries"].read_text().splitlines()
    (tmp_path / "t.csv").write_text("\n".join(text[:3] + [text[3] + ',"extra"'] + text[4:]) + "\n")
    with pytest.raises(InputError, match="fields") as err:
        task(data, queries=str(tmp_path / "t.csv"), images=str(data["csv"]["images"])).samples()
    assert err.value.line == 4
    (tmp_path / "h.csv").write_text("question,answer\nq,a\n")
    with pytest.raises(InputError, match="header") as err:
        task(data, queries=str(tmp_path / "h.csv")).samples()
    assert err.value.field == "question_type"


def test_example_yaml_keys_are_task_arguments():
    from pathlib import Path

    import reag_harness.tasks.evqa as pkg

    t = EvqaTask(Runtime(), config=str(Path(pkg.__file__).parent / "task.example.yaml"))
    assert t.args["kb"] == "/data/evqa/kb_store" and t.no_bem is False
