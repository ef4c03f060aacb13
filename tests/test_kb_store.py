"""The memory-mapped KB store: streaming build, O(1) lookup, bad input named by file, line and field."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from reag_harness.core.errors import InputError
from reag_harness.data.kb.build import build_store
from reag_harness.data.kb.jsonstream import ObjectStream
from reag_harness.data.kb.passages import infoseek_passages
from reag_harness.data.kb.store import KBStore, is_store, open_kb

PAGES = {
    "https://en.wikipedia.org/wiki/Eiffel_Tower": {
        "title": "Eiffel Tower", "section_titles": ["Eiffel Tower", "History"],
        "section_texts": ["A tower in Paris.", "Built 1887\u20131889 by \"Eiffel\"."],
        "image_urls": ["https://x/a.jpg"], "url": "https://en.wikipedia.org/wiki/Eiffel_Tower",
    },
    "https://en.wikipedia.org/wiki/Caf\u00e9": {
        "title": "Caf\u00e9 \u2615", "section_texts": ["Coffee {house}, [not] json."],
    },
    "https://en.wikipedia.org/wiki/Empty": {"title": "Empty", "section_texts": []},
}


def write(path, obj, indent=None, ascii=False):
    path.write_text(json.dumps(obj, indent=indent, ensure_ascii=ascii), encoding="utf-8")
    return str(path)


@pytest.fixture
def evqa_store(tmp_path):
    more = {f"https://en.wikipedia.org/wiki/P{i}": {"title": f"P{i}", "section_texts": [f"t{i}"] * (i % 4 + 1)}
            for i in range(300)}
    kb = {**PAGES, **more}
    meta = build_store(write(tmp_path / "kb.json", kb, indent=1), str(tmp_path / "store"), "evqa", batch_pages=64)
    return kb, meta, tmp_path / "store"


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_object_stream_matches_json_load_at_any_block_size(tmp_path, block, indent):
    obj = {**PAGES, "k\"ey\\n": {"n": [1, 2.5e3, -0.0, True, None]}, "num": 12345678901234567890,
           "s": "\U0001f600 \u00e9"}
    # indent=2 also writes \uXXXX escapes (surrogate pairs too), which then straddle block boundaries.
    path = write(tmp_path / "kb.json", obj, indent=indent, ascii=indent is not None)
    stream = ObjectStream(path, block_chars=block)
    got = {k: v for k, v, _ in stream}
    assert got == json.loads(open(path, encoding="utf-8").read())
    assert list(got) == list(obj)
    import hashlib

    assert stream.digest == hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_object_stream_reports_key_lines(tmp_path):
    path = write(tmp_path / "kb.json", {"a": {"x": 1}, "b": {"y": [1, 2]}}, indent=2)
    lines = [line for _, _, line in ObjectStream(path, block_chars=3)]
    text = open(path).read().splitlines()
    assert [text[n - 1].strip().split(":")[0] for n in lines] == ['"a"', '"b"']


@pytest.mark.parametrize(
    "text, line, what",
    [
        ('{\n"a": {"section_texts": []},\n"b": {"section_texts": [}\n}', 3, "malformed JSON"),
        ('{\n"a": {"section_texts": []}\n"b": 1}', 3, "expected ','"),
        ('{\n"a": {"section_texts": ["x"]', 2, "malformed JSON"),
        ('[1, 2]', 1, "one JSON object"),
        ('{"a": {"section_texts": []}} trailing', 1, "extra data"),
    ],
)
def test_malformed_kb_json_names_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "kb.json"
    path.write_text(text)
    with pytest.raises(InputError, match=what) as err:
        build_store(str(path), str(tmp_path / "store"), "evqa")
    assert err.value.path == str(path) and err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}:")
    assert not (tmp_path / "store").exists() and not list(tmp_path.glob(".store.building*"))


def test_missing_field_names_page_line_and_field(tmp_path):
    path = tmp_path / "kb.json"
    path.write_text('{\n "a": {"section_texts": ["x"]},\n "b": {"title": "B", "sections": []}\n}')
    with pytest.raises(InputError) as err:
        build_store(str(path), str(tmp_path / "store"), "evqa")
    assert (err.value.line, err.value.field) == (3, "section_texts") and "'b'" in str(err.value)
    with pytest.raises(InputError) as err:
        build_store(str(path), str(tmp_path / "store2"), "infoseek")
    assert (err.value.line, err.value.field) == (2, "wikipedia_content")


def test_duplicate_key_refused(tmp_path):
    path = tmp_path / "kb.json"
    path.write_text('{"a": {"section_texts": ["1"]}, "b": {"section_texts": []}, "a": {"section_texts": ["2"]}}')
    with pytest.raises(InputError, match="'a' appears more than once"):
        build_store(str(path), str(tmp_path / "store"), "evqa")


def test_store_round_trip(evqa_store):
    kb, meta, folder = evqa_store
    assert is_store(folder) and meta["n_pages"] == len(kb) and meta["n_empty_pages"] == 1
    store = KBStore(folder)
    assert len(store) == len(kb) and store.kind == "evqa"
    for key, entry in kb.items():
        assert key in store
        assert store.passages(key) == entry["section_texts"]
        assert store.title(key) == entry["title"]
        assert store.page(key) == entry
    keys = store.keys()
    assert len(keys) == len(kb) and list(keys) == list(kb) and keys[-1] == list(kb)[-1] and keys[1:3] == list(kb)[1:3]
    assert "https://en.wikipedia.org/wiki/Nope" not in store and 42 not in store
    with pytest.raises(KeyError):
        store.passages("https://en.wikipedia.org/wiki/Nope")
    assert store.passages("https://en.wikipedia.org/wiki/Empty") == []


def test_one_passage_reads_what_the_page_holds(evqa_store, tmp_path):
    """``passage(key, index)`` (what a cached re-run reads for a kept passage) is ``passages(key)[index]``,
    out-of-range and unknown keys included, for the store, the in-memory KB and the synthetic one."""
    from reag_harness.data.kb.memory import InMemoryKB
    from reag_harness.plugins.zero_cost import SynthKB

    kb, _, folder = evqa_store
    synth = SynthKB(50, 6.5)
    for store in (KBStore(folder), InMemoryKB(kb, kind="evqa"), open_kb(write(tmp_path / "small.json", PAGES)), synth):
        for key in list(store.keys())[:40]:
            texts = store.passages(key)
            for index in range(-len(texts), len(texts)):
                assert store.passage(key, index) == texts[index]
            with pytest.raises(IndexError):
                store.passage(key, len(texts))
        with pytest.raises(KeyError):
            store.passage("https://en.wikipedia.org/wiki/Nope", 0)


def test_fingerprint_follows_content_and_kind(tmp_path, evqa_store):
    kb, meta, folder = evqa_store
    assert KBStore(folder).fingerprint() == meta["fingerprint"]
    again = build_store(str(tmp_path / "kb.json"), str(tmp_path / "store"), "evqa", batch_pages=5)  # replaces
    assert again["fingerprint"] == meta["fingerprint"]
    kb["https://en.wikipedia.org/wiki/P0"]["section_texts"] = ["changed"]
    other = build_store(write(tmp_path / "kb2.json", kb, indent=1), str(tmp_path / "store2"), "evqa")
    assert other["fingerprint"] != meta["fingerprint"]


def test_open_is_lazy(evqa_store):
    """Opening reads no page batch and maps the index instead of loading it (the open time is measured by
    benchmarks/bench_kb.py, not asserted here: a wall-clock limit fails on a busy machine)."""
    _, _, folder = evqa_store
    store = KBStore(folder)
    assert store._batches == {}  # nothing read at open
    assert all(isinstance(a, np.memmap) for a in (store._offsets, store._starts, store._hashes, store._rows))


def test_infoseek_store_passages_computed_once(tmp_path):
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    kb = {"q1": {"title": "Q", "wikipedia_content": text, "wikidata_id": "Q1"}, "q2": {"wikipedia_content": ""}}
    meta = build_store(write(tmp_path / "kb.json", kb), str(tmp_path / "s"), "infoseek")
    store = KBStore(tmp_path / "s")
    assert store.passages("q1") == infoseek_passages(text) and len(store.passages("q1")) > 1
    assert store.page("q1") == kb["q1"] and store.passages("q2") == [] and meta["n_empty_pages"] == 1
    assert meta["passages"]["max_tokens"] == 300


def test_open_kb_store_json_and_errors(tmp_path, evqa_store):
    _, _, folder = evqa_store
    assert isinstance(open_kb(str(folder), "evqa"), KBStore)
    with pytest.raises(InputError, match="built for 'evqa'"):
        open_kb(str(folder), "infoseek")
    small = open_kb(write(tmp_path / "small.json", PAGES), "evqa")
    assert len(small) == 3 and small.passages("https://en.wikipedia.org/wiki/Eiffel_Tower")[0] == "A tower in Paris."
    with pytest.raises(InputError, match="not found"):
        open_kb(str(tmp_path / "missing"), "evqa")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="meta.json"):
        KBStore(tmp_path / "plain")


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("x")
    with pytest.raises(InputError, match="not a knowledge-base store"):
        build_store(write(tmp_path / "kb.json", PAGES), str(tmp_path / "out"), "evqa")
    assert (tmp_path / "out" / "precious.txt").exists()


def test_kb_build_subcommand(tmp_path, capsys):
    from reag_harness.data import kb_build

    parser = argparse.ArgumentParser()
    kb_build.configure(parser)
    args = parser.parse_args(["build", "--task", "evqa", "--input", write(tmp_path / "kb.json", PAGES),
                              "--output", str(tmp_path / "st"), "--batch-pages", "2", "--quiet"])
    assert kb_build.run(args) == 0
    assert "3 pages" in capsys.readouterr().out
    assert KBStore(tmp_path / "st").meta["batch_pages"] == 2


def test_kb_build_module_import_is_cheap():
    import subprocess
    import sys

    heavy = "('torch', 'tensorflow', 'spacy', 'pyarrow')"
    code = f"import sys, reag_harness.data.kb_build; print(any(m in sys.modules for m in {heavy}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
