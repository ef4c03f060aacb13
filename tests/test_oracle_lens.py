"""Oracle page / passage and Google Lens retrievers on the KB store."""

from __future__ import annotations

import pytest

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.data.kb.build import build_store
from reag_harness.data.kb.memory import InMemoryKB
from reag_harness.data.kb.store import KBStore
from reag_harness.interfaces import Runtime
from reag_harness.plugins.retrievers.google_lens import GoogleLensRetriever, quote_url
from reag_harness.plugins.retrievers.oracle import OraclePageRetriever, OraclePassageRetriever
from reag_harness.records import Sample
from reag_harness.tasks.evqa.task import EvqaTask

from .kbdata import synth


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle")
    s = synth()
    extra = {"https://en.wikipedia.org/wiki/Caf\u00e9 au lait": {"title": "Café", "section_texts": ["milk", "coffee"]},
             "https://en.wikipedia.org/wiki/Blank": {"title": "Blank", "section_texts": []}}
    kb_json = s.write_kb(root / "kb.json", 10, "evqa", seed=3, pages=extra)
    build_store(str(kb_json), str(root / "store"), "evqa")
    paths = s.write_evqa_queries(root, 8, 10, seed=3)
    t = EvqaTask(Runtime(), queries=str(paths["queries"]), images=str(paths["images"]), kb=str(root / "store"),
                 no_bem="1", lens=str(paths["lens"]))
    return {"root": root, "task": t, "samples": t.samples(), "kb": KBStore(root / "store"), **paths}


def test_oracle_page_all_sections_of_all_gold_pages(data):
    kb, samples = data["kb"], data["samples"]
    out = OraclePageRetriever(Runtime()).retrieve(samples, kb)
    for s, r in zip(samples, out):
        gold = s.meta["gold_pages"]
        assert r.sample_id == s.id and [k for k, _ in r.pages] == gold
        assert [p.text for p in r.passages] == [t for g in gold for t in kb.passages(g)]
        assert [(p.page_key, p.index) for p in r.passages][:2] == [(gold[0], 0), (gold[0], 1)][:len(r.passages[:2])]


def test_oracle_passage_evidence_section_and_reference_fallbacks(data):
    kb, samples = data["kb"], data["samples"]
    out = OraclePassageRetriever(Runtime()).retrieve(samples, kb)
    for s, r in zip(samples, out):
        if s.meta["question_type"] == "2_hop":  # "0|0": the reference's int() fails -> whole pages
            assert "fallback" in r.info and len(r.pages) == 2
            assert len(r.passages) == sum(len(kb.passages(g)) for g in s.meta["gold_pages"])
        else:
            assert len(r.passages) == 1 and r.passages[0].index == 0
            assert r.passages[0].text == kb.passages(s.meta["gold_pages"][0])[0]
    s0 = samples[0]
    far = Sample(s0.id, s0.question, s0.image, s0.references, {**s0.meta, "evidence_section_id": 999})
    r = OraclePassageRetriever(Runtime()).retrieve([far], kb)[0]
    assert "out of range" in r.info["fallback"] and len(r.passages) == len(kb.passages(s0.meta["gold_pages"][0]))


def test_oracle_unknown_key_and_empty_page_name_file_line_field(data):
    s0 = data["samples"][2]
    for key, what in (("https://en.wikipedia.org/wiki/Nope", "has no page"),
                      ("https://en.wikipedia.org/wiki/Blank", "is empty")):
        bad = Sample(s0.id, s0.question, s0.image, s0.references, {**s0.meta, "gold_pages": [key]})
        with pytest.raises(InputError, match=what) as err:
            OraclePageRetriever(Runtime()).retrieve([bad], data["kb"])
        line = s0.meta["source_line"]
        assert (err.value.path, err.value.line, err.value.field) == (str(data["queries"]), line, "wikipedia_url")
        assert line > 1 and data["queries"].read_text().splitlines()[line - 1].strip() == "{"  # where item 3 starts


def test_infoseek_style_sample_oracle_passage_is_the_page():
    kb = InMemoryKB({"Q1": {"wikipedia_content": "One. Two."}}, kind="infoseek")
    s = Sample("d1", "q", None, ("a",), {"gold_pages": ["Q1"], "passage_id": "Q1"})
    r = OraclePassageRetriever(Runtime()).retrieve([s], kb)[0]
    assert [p.text for p in r.passages] == kb.passages("Q1") and "InfoSeek" in r.info["fallback"]


def test_lens_component_args_and_reference_behaviour(data, tmp_path):
    kb, samples = data["kb"], data["samples"]
    args = data["task"].component_args("retriever", "google-lens")
    lens = GoogleLensRetriever(Runtime(), **args, top_k=2)
    out = lens.retrieve(samples, kb)
    for s, r in zip(samples, out):
        gold = s.meta["gold_pages"][0]
        # first url is the gold page; '' is dropped; the third url is not in the KB
        assert [k for k, _ in r.pages] == [gold] and [k for k, _ in r.raw_hits][0] == gold
        assert len(r.raw_hits) == 2 and r.info["not_in_kb"] == [r.raw_hits[1][0]]
        assert [p.text for p in r.passages] == kb.passages(gold)


def test_lens_quotes_urls_cuts_top_k_before_kb_filter(data, tmp_path):
    kb = data["kb"]
    cafe = "https://en.wikipedia.org/wiki/Caf\u00e9 au lait"
    assert quote_url(cafe) == "https://en.wikipedia.org/wiki/Caf%C3%A9%20au%20lait"
    store_key = quote_url(cafe)
    b_key = "https://en.wikipedia.org/wiki/B"
    small = InMemoryKB({store_key: {"section_texts": ["s"]}, b_key: {"section_texts": ["b"]}})
    csv = tmp_path / "lens.csv"
    urls = ["", "https://en.wikipedia.org/wiki/Missing", cafe, "https://en.wikipedia.org/wiki/B"]
    csv.write_text("dataset_image_id,lens_wiki_urls\n7," + '"' + repr(urls).replace('"', '""') + '"\n')
    s = Sample("a", "q", None, (), {"dataset_image_ids": ["7"]})
    r = GoogleLensRetriever(Runtime(), lens=str(csv), top_k=2).retrieve([s], small)[0]
    assert [k for k, _ in r.raw_hits] == ["https://en.wikipedia.org/wiki/Missing", store_key]
    assert [k for k, _ in r.pages] == [store_key]  # B is past top_k although it is in the KB
    none = Sample("b", "q", None, (), {"dataset_image_ids": ["8"]})
    r = GoogleLensRetriever(Runtime(), lens=str(csv)).retrieve([none], small)[0]
    assert r.pages == () and "no row" in r.info["lens"]
    assert kb is not None


def test_lens_bad_csv_and_missing_arg(tmp_path):
    csv = tmp_path / "lens.csv"
    csv.write_text("dataset_image_id,lens_wiki_urls\n1,\"['a']\"\n2,\"['a', \"\n")
    with pytest.raises(InputError, match="not a list literal") as err:
        GoogleLensRetriever(Runtime(), lens=str(csv)).lens()
    assert (err.value.line, err.value.field) == (3, "lens_wiki_urls")
    with pytest.raises(HarnessError, match="lens_entities.csv path"):
        GoogleLensRetriever(Runtime())


def test_registered_names_load(data):
    from reag_harness.core.plugin_manager import get_registry

    reg = get_registry()
    assert reg.get("retriever", "oracle-page").load() is OraclePageRetriever
    assert reg.get("retriever", "oracle-passage").load() is OraclePassageRetriever
    assert reg.get("retriever", "google-lens").load() is GoogleLensRetriever
    assert reg.get("task", "evqa").load() is EvqaTask
