"""Fidelity items of docs/fidelity.md that the harness implements: the EVQA oracle passage and
``evidence_in_context`` as the reference reads them, non-RGB query images counted (and the reference's
"Error" on request), the attention implementation recorded, fp16 query normalisation as the reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reag_harness.api import evaluate
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.results.run_files import load_sample_logs

from . import pipeline_plugin
from .kbdata import synth


@pytest.fixture
def plugin(tmp_path):
    register_plugin(pipeline_plugin, "test-pipeline")
    yield dict(critic="none", generator="test-first-number", prompt_style="test-context", quiet=True,
               no_leaderboard=True, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    unregister_plugin("test-pipeline")


def logs_of(plugin) -> dict[str, dict]:
    folder = max(Path(plugin["output_dir"]).iterdir(), key=lambda p: p.stat().st_mtime_ns)
    return {r["id"]: r for r in load_sample_logs(folder)}


def test_evqa_oracle_passage_and_evidence_in_context_come_from_the_query_file(plugin, tmp_path):
    mk = synth()
    kb = mk.write_kb(tmp_path / "kb.json", 8, "evqa", seed=5)
    data = mk.write_evqa_queries(tmp_path / "q", 4, 8, seed=5)
    rows = json.loads(data["queries"].read_text())
    rows[0]["retrieval"] = [{"section_texts": ["the query file's own gold section 1234"]}]  # q0: section 0
    data["queries"].write_text(json.dumps(rows))
    task_args = {"kb": str(kb), "queries": str(data["queries"]), "images": str(data["images"]), "no_bem": True}
    res = evaluate(task="evqa", task_args=task_args, retriever="oracle-passage", **plugin)
    logs = logs_of(plugin)
    q0, q1 = logs["q0"], logs["q1"]
    assert [p["text"] for p in q0["passages"]] == ["the query file's own gold section 1234"]
    assert q0["retrieval_info"]["evidence_source"] == "query file" and q0["evidence_in_context"] is True
    kb_text = json.loads(kb.read_text())[rows[1]["wikipedia_url"]]["section_texts"][0]
    assert [p["text"] for p in q1["passages"]] == [kb_text]
    assert q1["retrieval_info"]["evidence_source"].startswith("kb")
    assert q1["evidence_in_context"] is True and logs["q3"]["evidence_in_context"] is False  # 2_hop: no section
    summary = res.retrieval_quality["evidence_in_context"]
    assert summary["n"] == 4 and summary["n_true"] == 3 and summary["from_query_file"] == 1
    # oracle-page with the query file's section (not the KB's text): not in context, as the reference computes it
    evaluate(task="evqa", task_args=task_args, retriever="oracle-page", **plugin)
    assert logs_of(plugin)["q0"]["evidence_in_context"] is False and logs_of(plugin)["q1"]["evidence_in_context"]


def test_non_rgb_query_images_are_counted_and_the_reference_error_is_a_switch(plugin, tmp_path):
    mk = synth()
    kb = mk.write_kb(tmp_path / "kb.json", 6, "infoseek", seed=6)
    data = mk.write_infoseek_queries(tmp_path, 3, 6, seed=6)
    first = json.loads(data["queries"].read_text().splitlines()[0])
    grey = data["images"] / f"{first['image_id']}.jpg"
    Image.open(grey).convert("L").save(grey)
    task_args = {"kb": str(kb), "queries": str(data["queries"]), "images": str(data["images"]),
                 "qtypes": str(data["qtypes"])}
    res = evaluate(task="infoseek", task_args=task_args, retriever="oracle-page", **plugin)
    assert res.runtime_facts["query_images"] == {"modes": {"RGB": 2, "L": 1}, "non_rgb": 1}
    assert res.errors["count"] == 0
    ref = evaluate(task="infoseek", task_args={**task_args, "non_rgb_images": "error"}, retriever="oracle-page",
                   **plugin)
    assert ref.errors["count"] == 1 and ref.errors["by_stage"] == {"input": 1}
    assert "not RGB" in logs_of(plugin)[first["data_id"]]["error"]


def test_the_attention_implementation_that_ran_is_recorded(tmp_path, tiny_path):
    res = evaluate(task="demo", retriever="none", critic="none", generator="tiny-qwen2.5-vl", prompt_style="direct",
                   generator_args={"max_new_tokens": 2}, limit=2, quiet=True, no_leaderboard=True,
                   output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    assert res.runtime_facts["generator"] == {"backend": "transformers", "attn_implementation": "sdpa"}
    data = json.loads(next((tmp_path / "runs").iterdir()).joinpath("results.json").read_text())
    assert data["runtime_facts"]["generator"]["attn_implementation"] == "sdpa"


def test_fp16_embeddings_are_normalised_in_fp16_as_the_reference() -> None:
    torch = pytest.importorskip("torch")
    from reag_harness.models.clip_encoders import _l2

    x = torch.randn(4, 64, generator=torch.Generator().manual_seed(0)).to(torch.float16) * 3
    reference = (x / x.norm(p=2, dim=-1, keepdim=True)).float().numpy()
    assert np.array_equal(_l2(x), reference)
    fp32 = (x.float() / x.float().norm(dim=-1, keepdim=True)).numpy()
    assert not np.array_equal(reference, fp32)  # the two differ in the last bits
    assert np.allclose(_l2(x.float()), fp32)
