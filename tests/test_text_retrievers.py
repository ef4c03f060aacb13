"""Text passage retrieval (bm25, dense-text with the real all-MiniLM-L6-v2 weights) and the chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.core.plugin_manager import get_registry, register_plugin, unregister_plugin
from reag_harness.data.kb.memory import InMemoryKB
from reag_harness.hookspecs import hookimpl
from reag_harness.interfaces import Runtime
from reag_harness.records import Retrieval, Sample

EIFFEL = "https://en.wikipedia.org/wiki/Eiffel_Tower"
PAGES = {
    "https://en.wikipedia.org/wiki/Great_Wall_of_China": {
        "title": "Great Wall of China",
        "section_texts": ["The Great Wall of China is a series of fortifications built across northern China.",
                          "Its construction spanned many dynasties, from the 7th century BC onward."]},
    EIFFEL: {
        "title": "Eiffel Tower",
        "section_texts": ["The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.",
                          "It was designed by Gustave Eiffel's company and completed in 1889 for the World's Fair."]},
    "https://en.wikipedia.org/wiki/Mount_Fuji": {
        "title": "Mount Fuji",
        "section_texts": ["Mount Fuji is an active stratovolcano on the island of Honshu, the highest peak in Japan.",
                          "Its last eruption took place in 1707."]},
    "https://en.wikipedia.org/wiki/Amazon_River": {
        "title": "Amazon River",
        "section_texts": ["The Amazon River in South America is the largest river by discharge volume of water."]},
}
QUESTION = "Who designed the Eiffel Tower in Paris and when was it completed?"


@pytest.fixture(scope="module")
def kb():
    return InMemoryKB(PAGES, kind="evqa")


def sample(question: str = QUESTION, **meta) -> Sample:
    return Sample(id="q1", question=question, image=None, meta={"gold_pages": [EIFFEL], **meta})


def make(name: str, **args):
    return get_registry().create("retriever", name, Runtime(), args)


def test_packaged_minilm_is_found_offline():
    from reag_harness.plugins.retrievers.dense_text import packaged_minilm, resolve_model

    path = packaged_minilm()
    assert path is not None and os.path.isfile(os.path.join(path, "model.safetensors"))
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == path


def test_dense_text_real_minilm_ranks_the_eiffel_passage_first(kb):
    retriever = make("dense-text", top_k=3)
    [r] = retriever.retrieve([sample()], kb)
    assert [p.page_key for p in r.passages[:2]] == [EIFFEL, EIFFEL]  # both Eiffel passages beat the rest
    assert r.pages[0][0] == EIFFEL
    scores = r.info["passage_scores"]
    assert scores == sorted(scores, reverse=True) and len(r.passages) == 3
    # a question about another entity ranks that one first (a real model, not a constant)
    [r2] = retriever.retrieve([sample("Which is the highest volcano in Japan?")], kb)
    assert r2.passages[0].page_key.endswith("Mount_Fuji")
    # restricted to given pages: only their passages, best first
    [(ranked, missing)] = retriever.rank_within([sample()], kb, [[EIFFEL, "https://x/Not_in_kb"]], top_k=5)
    assert sorted(p.index for p, _ in ranked) == [0, 1] and missing == ["https://x/Not_in_kb"]
    assert ranked[0][0] == r.passages[0] and ranked[0][1] == pytest.approx(r.info["passage_scores"][0], abs=1e-4)


def test_bm25_standalone_and_within_pages(kb):
    retriever = make("bm25", top_k=2)
    [r] = retriever.retrieve([sample()], kb)
    assert r.passages[0].page_key == EIFFEL and r.info["passages_ranked"] is True
    [(ranked, _)] = retriever.rank_within([sample("When was the last eruption?")], kb,
                                          [[EIFFEL, "https://en.wikipedia.org/wiki/Mount_Fuji"]])
    assert ranked[0][0].text == "Its last eruption took place in 1707."
    assert retriever.identity()["bm25s"]
    with pytest.raises(HarnessError, match="method"):
        make("bm25", method="nope")


def test_query_parts_and_missing_caption(kb):
    retriever = make("bm25", query="question+caption")
    assert retriever.query_text(sample("Q?", caption="a tall iron tower")) == "Q? a tall iron tower"
    with pytest.raises(InputError, match="caption"):
        retriever.retrieve([sample("Q?")], kb)
    with pytest.raises(HarnessError, match="query="):
        make("bm25", query="question+colour")


class FixedPages:
    """A page retriever for the chain test: fixed pages, always the same order."""

    name = "fixed-pages"

    def __init__(self, runtime, top_k=5, keys=()):
        self.top_k, self.keys = top_k, list(keys)

    def identity(self):
        return {"name": self.name, "keys": self.keys}

    def retrieve(self, samples, kb):
        return [Retrieval(s.id, pages=tuple((k, 1.0 - i / 10) for i, k in enumerate(self.keys[: self.top_k])))
                for s in samples]


class FixedPagesPlugin:
    @hookimpl
    def register_retrievers(self, register):
        register("fixed-pages-test", FixedPages, description="test page retriever")


@pytest.fixture
def fixed_pages():
    register_plugin(FixedPagesPlugin(), "fixed-pages-test-plugin")
    yield
    unregister_plugin("fixed-pages-test-plugin")


def test_chain_restricts_passages_to_the_retrieved_pages(kb, fixed_pages):
    registry = get_registry()
    fuji = "https://en.wikipedia.org/wiki/Mount_Fuji"
    runtime = Runtime()
    # task defaults for the page retriever apply as if it were chosen alone
    runtime.extra["component_args"] = lambda kind, name: {"keys": [fuji, EIFFEL]} if name == "fixed-pages-test" else {}
    chain = registry.create("retriever", "chain", runtime, {"pages": "fixed-pages-test", "passages": "dense-text",
                                                            "top_pages": 1, "top_passages": 3})
    [r] = chain.retrieve([sample()], kb)
    assert [k for k, _ in r.pages] == [fuji]  # top_pages=1: the Eiffel page was cut
    assert {p.page_key for p in r.passages} == {fuji} and len(r.passages) == 2
    chain2 = registry.create("retriever", "chain", runtime, {"pages": "fixed-pages-test", "passages": "bm25",
                                                             "top_pages": 2, "top_passages": 1,
                                                             "passages.query": "question+entity"})
    [r2] = chain2.retrieve([sample("When was the last eruption?")], kb)
    assert r2.passages[0].text == "Its last eruption took place in 1707." and len(r2.passages) == 1
    assert chain2.identity()["passages"]["args"]["query"] == "question+entity"
    with pytest.raises(HarnessError, match="cannot rank passages"):
        registry.create("retriever", "chain", runtime, {"pages": "fixed-pages-test", "passages": "oracle-page"})
    with pytest.raises(HarnessError, match="unknown argument"):
        registry.create("retriever", "chain", runtime, {"pages": "fixed-pages-test", "top_k": 3})


def test_demo_chain_through_the_cli_reports_recall_at_both_levels(tmp_path):
    out = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "reag_harness.cli", "--task", "demo", "--retriever", "chain", "--retriever-args",
         "pages=tiny-eva-clip,passages=dense-text,top_pages=5,top_passages=10", "--critic", "none",
         "--generator", "tiny-qwen2.5-vl", "--limit", "8", "--output-dir", str(out), "--no-leaderboard", "--quiet"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "passage_recall@5" in proc.stdout and "recall@5" in proc.stdout
    folder = next(out.iterdir())
    results = json.loads((folder / "results.json").read_text())
    rq = results["retrieval_quality"]
    assert rq["n_with_gold_page"] == 8 and rq["n_ranked_passages"] == 8
    for k in (1, 5, 10, 20):
        assert rq[f"recall@{k}"] is not None and f"passage_recall@{k}" in rq and f"evidence_recall@{k}" in rq
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    for row in rows:
        pages = [k for k, _ in row["retrieved_pages"]]
        assert len(pages) <= 5 and len(row["passages"]) == 10
        assert {p["page_key"] for p in row["passages"]} <= set(pages)
        scores = row["retrieval_info"]["passage_scores"]
        assert scores == sorted(scores, reverse=True)


def test_wiki_llava_preset_runs_on_the_demo_with_local_checkpoints(tmp_path):
    from reag_harness.api import evaluate
    from reag_harness.models.tiny.clip import TINY_MODEL, tiny_clip_checkpoint

    preset = get_registry().get("preset", "wiki-llava-retrieval").factory
    chain = get_registry().create("retriever", "chain", Runtime(), dict(preset["retriever"][1]))
    assert chain.page_retriever.name == "clip" and chain.page_retriever.model == "ViT-L-14"
    assert chain.passage_retriever.similarity == "dot" and chain.top_pages == 1
    # the same preset with the real checkpoints swapped for local ones (prefixed arguments override)
    results = evaluate(task="demo", preset="wiki-llava-retrieval", generator="tiny-qwen2.5-vl", limit=2,
                       retriever_args={"pages.model": TINY_MODEL, "pages.pretrained": str(tiny_clip_checkpoint()),
                                       "passages.model": "sentence-transformers/all-MiniLM-L6-v2"},
                       output_dir=str(tmp_path / "runs"), no_leaderboard=True, quiet=True, cache=False)
    assert results.components["retriever"].name == "chain"
    assert results.retrieval_quality["n_ranked_passages"] == 2
    rows = [json.loads(x) for x in next((tmp_path / "runs").iterdir()).joinpath("samples.jsonl").read_text().split("\n")
            if x]
    assert all(len(r["retrieved_pages"]) == 1 and len(r["passages"]) <= 3 for r in rows)
