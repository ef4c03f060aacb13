"""The precomputed retriever: files in our format, EchoSight's and knn row ids reproduce their rankings."""

from __future__ import annotations

import json

import pytest

from reag_harness.api import evaluate
from reag_harness.core.errors import InputError
from reag_harness.core.plugin_manager import get_registry
from reag_harness.interfaces import Runtime
from reag_harness.records import Sample
from reag_harness.results.run_files import load_sample_logs
from reag_harness.tasks.demo.task import DemoTask

LIMIT = 3


@pytest.fixture(scope="module")
def demo():
    task = DemoTask()
    return task, task.samples(limit=LIMIT), task.knowledge_base()


def run(tmp_path, **retriever_args):
    results = evaluate(task="demo", retriever="precomputed", retriever_args=retriever_args, critic="none",
                       generator="tiny-qwen2.5-vl", prompt_style="direct", limit=LIMIT,
                       output_dir=str(tmp_path / "runs"), no_leaderboard=True, quiet=True, cache=False)
    folder = next((tmp_path / "runs").iterdir())
    return results, {r["id"]: r for r in load_sample_logs(folder)}


def rankings(kb, n):
    """A different, known page ranking per sample: rotate the KB's keys."""
    keys = list(kb.keys())
    return [[keys[(7 * i + j) % len(keys)] for j in range(4)] for i in range(n)]


def test_our_jsonl_format_with_passages_and_the_echosight_format(tmp_path, demo):
    _, samples, kb = demo
    ranks = rankings(kb, LIMIT)
    ours = tmp_path / "ours.jsonl"
    lines = []
    for i, s in enumerate(samples):
        row = {"id": s.id, "pages": [[k, 1.0 - j / 10] for j, k in enumerate(ranks[i])]}
        if i == 0:
            row["passages"] = [{"page_key": ranks[0][1], "index": 1, "score": 0.9}, [ranks[0][0], 0]]
        lines.append(json.dumps(row))
    ours.write_text("\n".join(lines) + "\n")
    results, rows = run(tmp_path / "a", file=str(ours))
    for i, s in enumerate(samples):
        assert [k for k, _ in rows[s.id]["retrieved_pages"]] == ranks[i]
        assert rows[s.id]["retrieved_pages"][1][1] == pytest.approx(0.9)
    got = [(p["page_key"], p["index"]) for p in rows[samples[0].id]["passages"]]
    assert got == [(ranks[0][1], 1), (ranks[0][0], 0)]
    assert rows[samples[0].id]["passages"][0]["text"] == kb.passages(ranks[0][1])[1]
    assert {p["page_key"] for p in rows[samples[1].id]["passages"]} == set(ranks[1])  # all passages from the KB
    assert results.components["retriever"].identity["files"]["file"]["sha256"]

    # EchoSight's --save_result file: keyed by data_id, retrieved then reranked, sections with its header
    echo = {}
    for i, s in enumerate(samples):
        entry = {"retrieved_entries": ranks[i], "retrieval_similarities": [0.5, 0.4, 0.3, 0.2]}
        if i == 0:
            title = kb.title(ranks[0][2])
            entry["reranked_entries"] = [ranks[0][2], ranks[0][0]]
            entry["reranked_sections"] = [f"# Wiki Article: {title}\n## Section Title: History\n"
                                          f"{kb.passages(ranks[0][2])[1]}"]
        echo[s.id] = entry
    path = tmp_path / "echosight_result.json"
    path.write_text(json.dumps(echo, indent=4))
    _, rows = run(tmp_path / "b", file=str(path))
    first = rows[samples[0].id]
    assert [k for k, _ in first["retrieved_pages"]] == [ranks[0][2], ranks[0][0]]
    assert [(p["page_key"], p["index"]) for p in first["passages"]] == [(ranks[0][2], 1)]
    assert first["retrieval_info"]["stage"] == "reranked"
    second = rows[samples[1].id]
    assert second["retrieved_pages"] == [[k, sc] for k, sc in zip(ranks[1], [0.5, 0.4, 0.3, 0.2])]
    _, rows = run(tmp_path / "c", file=str(path), stage="retrieved")
    assert [k for k, _ in rows[samples[0].id]["retrieved_pages"]] == ranks[0]


def test_knn_rows_and_a_runs_own_samples_file(tmp_path, demo):
    _, samples, kb = demo
    keys = list(kb.keys())
    knn = tmp_path / "knn.json"
    knn.write_text(json.dumps([[k, f"img{i}.jpg"] for i, k in enumerate(keys)]))
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps({s.id: [3 + i, 0, 3 + i, 10] for i, s in enumerate(samples)}))
    _, rows = run(tmp_path / "a", file=str(rows_file), keys=str(knn), format="knn-rows")
    for i, s in enumerate(samples):
        assert [k for k, _ in rows[s.id]["retrieved_pages"]] == [keys[3 + i], keys[0], keys[10]]  # de-duplicated
    # a run's samples.jsonl is our format (passages by page and index, texts from the KB): a second run
    # reproduces the first run's retrieval exactly
    first = next((tmp_path / "a" / "runs").iterdir()) / "samples.jsonl"
    _, again = run(tmp_path / "b", file=str(first))
    for s in samples:
        assert again[s.id]["retrieved_pages"] == rows[s.id]["retrieved_pages"]
        assert [(p["page_key"], p["index"], p["text"]) for p in again[s.id]["passages"]] == \
               [(p["page_key"], p["index"], p["text"]) for p in rows[s.id]["passages"]]


def test_missing_ids_stale_text_and_skip(tmp_path, demo):
    _, samples, kb = demo
    key = next(iter(kb.keys()))
    path = tmp_path / "partial.jsonl"
    path.write_text(json.dumps({"id": samples[0].id, "pages": [key]}) + "\n")
    retriever = get_registry().create("retriever", "precomputed", Runtime(), {"file": str(path)})
    with pytest.raises(InputError, match=f"no retrieval for sample '{samples[1].id}'"):
        retriever.retrieve(samples[:2], kb)
    skipped = evaluate(task="demo", retriever="precomputed", retriever_args={"file": str(path)}, critic="none",
                       generator="tiny-qwen2.5-vl", prompt_style="direct", limit=LIMIT, on_error="skip",
                       output_dir=str(tmp_path / "runs"), no_leaderboard=True, quiet=True, cache=False)
    assert skipped.errors["count"] == LIMIT - 1 and skipped.errors["by_stage"] == {"retrieve": LIMIT - 1}
    stale = tmp_path / "stale.jsonl"
    stale.write_text(json.dumps({"id": samples[0].id, "pages": [key],
                                 "passages": [{"page_key": key, "index": 0, "text": "another text"}]}) + "\n")
    retriever = get_registry().create("retriever", "precomputed", Runtime(), {"file": str(stale)})
    with pytest.raises(InputError, match="differs from the knowledge base"):
        retriever.retrieve(samples[:1], kb)
    assert get_registry().create("retriever", "precomputed", Runtime(),
                                 {"file": str(tmp_path / "nope.json")}).preflight()
    with pytest.raises(InputError, match="no id"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"pages": []}) + "\n")
        get_registry().create("retriever", "precomputed", Runtime(), {"file": str(bad)}).retrieve(
            [Sample("x", "q", None)], kb)
