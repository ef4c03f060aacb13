"""Retrieved keys that the KB lacks are warned about (or fail when none match); blank passages are empty;
``index build`` refuses unseeded random weights."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from reag_harness.api import evaluate
from reag_harness.core.errors import HarnessError
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.data.retrieval.faiss_index import build_index, load_index
from reag_harness.interfaces import Runtime
from reag_harness.results.run_files import load_sample_logs

from . import pipeline_plugin


@pytest.fixture
def plugin(tmp_path):
    register_plugin(pipeline_plugin, "test-pipeline")
    yield dict(task="demo", critic="none", generator="test-first-number", prompt_style="test-context", quiet=True,
               no_leaderboard=True, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"), limit=4)
    unregister_plugin("test-pipeline")


def title_index(folder: Path, quote_share: float) -> Path:
    """A FAISS index over the demo KB's titles whose keys are percent-quoted for a share of the pages."""
    from reag_harness.plugins.retrievers.eva_clip import tiny_eva_clip
    from reag_harness.tasks.demo.task import DemoTask

    kb = DemoTask().knowledge_base()
    keys = list(kb.keys())
    vecs = tiny_eva_clip(Runtime()).encoder().encode_texts([kb.title(k) for k in keys], 8)
    n_quoted = int(len(keys) * quote_share)
    rows = [[quote(k, safe="") if i < n_quoted else k] for i, k in enumerate(keys)]
    return build_index(np.asarray(vecs, dtype=np.float32), rows, folder, meta={"source": "titles"})


def test_an_index_over_other_keys_fails_and_a_partial_mismatch_warns(plugin, tmp_path, capsys):
    quoted = title_index(tmp_path / "quoted", 1.0)
    with pytest.raises(HarnessError, match=r"none of the \d+ retrieved pages is in the knowledge base \(e\.g\. "
                                           r"'https%3A%2F%2Fdemo"):
        evaluate(**plugin, retriever="tiny-eva-clip", retriever_args={"index": str(quoted), "top_k": 3})
    half = title_index(tmp_path / "half", 0.5)
    res = evaluate(**plugin, retriever="tiny-eva-clip", retriever_args={"index": str(half), "top_k": 36})
    missing = res.errors["retrieved_pages_not_in_kb"]
    assert missing["count"] == 4 * 18 and missing["of"] == 4 * 36 and missing["example"].startswith("https%3A")
    assert f"warning: {4 * 18} of {4 * 36} retrieved pages are not in the knowledge base" in capsys.readouterr().err
    again = evaluate(**plugin, retriever="tiny-eva-clip", retriever_args={"index": str(half), "top_k": 36})
    assert {t.stage: t.n_cached for t in again.timings}["retrieve"] == 4  # counted from the stored records
    assert again.errors["retrieved_pages_not_in_kb"] == missing
    with pytest.raises(HarnessError, match=r"none of the \d+ retrieved pages is in the knowledge base"):
        evaluate(**plugin, retriever="tiny-eva-clip", retriever_args={"index": str(quoted), "top_k": 3})  # cached


def test_whitespace_only_sections_are_not_passages(plugin, tmp_path):
    from .kbdata import synth

    mk = synth()
    kb_path = mk.write_kb(tmp_path / "kb.json", 6, "evqa", seed=4)
    data = mk.write_evqa_queries(tmp_path / "q", 4, 6, seed=4)
    query = json.loads(data["queries"].read_text())[0]
    kb = json.loads(kb_path.read_text())
    blank = query["wikipedia_url"].split("|")[0]
    kb[blank]["section_texts"] = ["  \n", "\t", ""]  # a page of blank sections
    kb_path.write_text(json.dumps(kb))
    task_args = {"kb": str(kb_path), "queries": str(data["queries"]), "images": str(data["images"]), "no_bem": True}
    pipeline_plugin.CALLS.clear()
    evaluate(**{**plugin, "task": "evqa", "critic": "test-overlap", "limit": None}, task_args=task_args,
             retriever="oracle-page")
    rows = {r["id"]: r for r in load_sample_logs(next(Path(plugin["output_dir"]).glob("evqa__*")))}
    assert rows[query["unique_id"]]["passages"] == []  # like a page with section_texts: []
    assert all(p["text"].strip() for r in rows.values() for p in r["passages"])
    assert pipeline_plugin.CALLS["judge"] == sum(len(r["passages"]) for r in rows.values())


def test_index_build_refuses_random_weights_unless_asked(tmp_path, capsys):
    from reag_harness.cli.app import main
    from reag_harness.models.tiny.clip import TINY_MODEL

    kb = tmp_path / "kb.json"
    kb.write_text(json.dumps({f"k{i}": {"title": f"Page {i}", "section_texts": ["x"]} for i in range(3)}))
    argv = ["index", "build", "--kb", str(kb), "--encoder", "open_clip", "--model", TINY_MODEL, "--source", "titles"]
    assert main([*argv, "--output", str(tmp_path / "a")]) == 2
    assert "without --pretrained would use random weights" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    assert main([*argv, "--random-weights", "--output", str(tmp_path / "b")]) == 0
    assert main([*argv, "--random-weights", "--output", str(tmp_path / "c")]) == 0
    b, c = load_index(tmp_path / "b"), load_index(tmp_path / "c")
    assert b.meta["random_weights"] == {"seed": 0}
    assert np.array_equal(b.index.reconstruct_n(0, 3), c.index.reconstruct_n(0, 3))  # seeded: reproducible
