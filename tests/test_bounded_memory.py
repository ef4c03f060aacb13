"""A run's memory follows the chunk, not the run: sample logs stream to disk, stage stores are indexed.

Zero-cost components (``reag_harness.plugins.zero_cost``) make a 2,000-question run cheap enough for a test.
On the code before issue 22 (every sample log kept to the end, every store record read into memory)
the peaks were 122 MB (fresh) and 133 MB (cached) under the settings below; now ~15 MB and ~8 MB.
"""

from __future__ import annotations

import json
import math
import shutil
import tracemalloc
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.pipeline.store import StageStore
from reag_harness.plugins import zero_cost
from reag_harness.results.retrieval_quality import retrieval_quality
from reag_harness.results.run_files import load_sample_logs
from reag_harness.results.run_results import SampleLog

PEAK_BOUND = 40e6  # bytes of traced Python memory for 2,000 questions of ~45 passages


@pytest.fixture
def zero(tmp_path: Path):
    register_plugin(zero_cost, "zero-cost")
    image = zero_cost.write_image(tmp_path)
    try:
        yield lambda n, out, **kw: evaluate(
            task="zero-cost-synth", task_args={"questions": n, "pages": 2000, "image": image},
            retriever_args={"top_k": 5}, critic_args={"batch": 1024}, output_dir=str(tmp_path / out),
            cache_dir=str(tmp_path / "stages"),
            device="cpu", quiet=True, leaderboard=False, **kw)
    finally:
        unregister_plugin("zero-cost")


def traced_peak(fn) -> tuple[float, object]:
    tracemalloc.start()
    try:
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_a_2000_question_run_holds_no_sample_logs_and_no_store_records(zero):
    fresh_peak, fresh = traced_peak(lambda: zero(2000, "fresh"))
    assert fresh.n == 2000
    assert fresh_peak < PEAK_BOUND, f"fresh run peaked at {fresh_peak / 1e6:.0f} MB: are sample logs kept?"
    cached_peak, cached = traced_peak(lambda: zero(2000, "cached"))
    assert {t.stage: t.n_cached for t in cached.timings}["judge"] == 2000
    assert cached_peak < PEAK_BOUND, f"cached run peaked at {cached_peak / 1e6:.0f} MB: is the store read whole?"
    assert cached.metrics == fresh.metrics and cached.retrieval_quality == fresh.retrieval_quality


def test_streamed_retrieval_quality_equals_the_one_from_the_written_logs(zero, tmp_path):
    res = zero(150, "small")
    folder = next((tmp_path / "small").iterdir())
    logs = [SampleLog.from_json(r) for r in load_sample_logs(folder)]
    assert res.retrieval_quality == retrieval_quality(logs)
    assert res.retrieval_quality["passages_kept_mean"] > 0
    run = json.loads((folder / "results.json").read_text())
    assert run["runtime_facts"]["knowledge_base"]["fingerprint"]


def test_a_stale_whole_record_brings_back_its_per_item_records(tmp_path):
    store = StageStore(tmp_path, "judge", "abc123")
    store.put_many([("q1#passage0", "c0", {"p_yes": 0.25}), ("q2#passage0", "c0", {"p_yes": 0.5})], per_item=True)
    store.put_many([("q1", "old", {"sample_id": "q1", "p_yes": [0.25]})])
    again = StageStore(tmp_path, "judge", "abc123")
    assert len(again) == 1  # only whole records are indexed at open
    assert again.get("q2#passage0", "c0") == {"p_yes": 0.5}  # no whole record for q2: its pairs count
    assert again.get("q1", "new") is None  # stale: recomputed from its pairs
    assert again.get("q1#passage0", "c0") == {"p_yes": 0.25}
    assert again.get("q1", "old") == {"sample_id": "q1", "p_yes": [0.25]}


def test_a_line_cut_short_is_ignored_and_the_newest_line_of_a_key_wins(tmp_path):
    store = StageStore(tmp_path, "generate", "abc123")
    store.put_many([("q1#prompt1", "c", {"raw": "a"}), ("q1#prompt1", "c", {"raw": "b"})])
    part = next((tmp_path / "generate" / "abc123").glob("part-*.jsonl"))
    with open(part, "a") as fh:
        fh.write('{"key": "q2#prompt1", "check": "c", "record": {"raw": "cut')
    again = StageStore(tmp_path, "generate", "abc123")
    assert again.get("q1#prompt1", "c") == {"raw": "b"} and again.get("q2#prompt1", "c") is None


def test_retrieval_records_of_the_older_layout_read_the_same():
    from reag_harness.data.kb.memory import InMemoryKB
    from reag_harness.pipeline.sample_rows import retrieval_from_record

    kb = InMemoryKB({"P": {"title": "P", "section_texts": ["a", "b", "c"]}}, kind="evqa")
    old = {"sample_id": "q", "pages": [["P", 1.0]], "passages": [{"page_key": "P", "index": 0},
                                                                 {"page_key": "P", "index": 2, "text": "C!"}]}
    new = {"sample_id": "q", "pages": [["P", 1.0]], "passage_runs": [["P", [0, 2], {"2": "C!"}]]}
    r_old, inline_old = retrieval_from_record(old, kb)
    r_new, inline_new = retrieval_from_record(new, kb)
    assert r_old == r_new and [p.text for p in r_new.passages] == ["a", "C!"]
    assert inline_old == inline_new == {("P", 2)}


def test_the_fast_encoders_write_what_the_generic_ones_write():
    import random
    from itertools import groupby

    from reag_harness.pipeline.sample_rows import PassageRefs, row_line
    from reag_harness.pipeline.store import store_line

    rng = random.Random(0)
    for value in (0.0, 1.0, 1e-7, 0.3333333333333333, float("nan"), 5):
        for record in ({"p_yes": value}, {"p_yes": value, "x": 1}, {"raw": "r"}):
            expected = json.dumps({"key": "q#passage1", "check": "c\u00e9", "record": record}, default=str) + "\n"
            assert store_line("q#passage1", "c\u00e9", record) == expected
    values = [None, 0.0, 1.0, 1e-7, 0.123456789, float("nan"), float("inf"), 3]
    for trial in range(300):
        passages = [{"page_key": rng.choice(["a", 'ü"x', "https://e/\u2028"]), "index": rng.randrange(9),
                     "p_yes": rng.choice(values), "kept": rng.random() < 0.5} for _ in range(rng.randrange(8))]
        row = {"id": "q\x00passages\x00" if trial % 50 == 0 else "q", "meta": {"t": ("x",)}, "passages": passages,
               "score": {"correct": 1}, "other": object() if trial % 70 == 0 else 1}
        assert row_line(row) == json.dumps(row, default=str)
        refs = PassageRefs.of((p["page_key"], p["index"], p["kept"], p["p_yes"]) for p in passages)
        assert row_line({**row, "passages": refs}) == json.dumps(row, default=str)
        runs = [(key, [p["index"] for p in group]) for key, group in groupby(passages, lambda p: p["page_key"])]
        p_yes = [p["p_yes"] for p in passages]
        stored = trial % 2 and all(type(v) is float and math.isfinite(v) for v in p_yes)  # a store's texts
        columns = PassageRefs(runs, [p["page_key"] for p in passages], [p["index"] for p in passages],
                              [k for k, p in enumerate(passages) if p["kept"]], p_yes,
                              [repr(v) for v in p_yes] if stored else ())
        assert list(columns) == list(refs) and len(columns) == len(passages)
        assert row_line({**row, "passages": columns}) == json.dumps(row, default=str)


def test_the_per_sample_checks_hash_what_the_generic_fingerprint_hashes():
    """judge_check's direct text gives the hashes stores already hold."""
    import random

    from reag_harness.pipeline.sample_rows import (
        judge_check,
        judge_check_v2,
        passages_digest,
    )
    from reag_harness.pipeline.store import fingerprint
    from reag_harness.records import Passage, Retrieval

    rng = random.Random(1)
    keys = ["a", 'ü"x', "https://e/\u2028", ""]
    texts = ["", "t", 'a "quoted" text\nwith ünïcode ☃ \u2028']
    for _trial in range(200):
        check = rng.choice(["abc", "c\u00e9\"", ""])
        passages = tuple(Passage(rng.choice(keys), rng.randrange(30), rng.choice(texts))
                         for _ in range(rng.randrange(12)))
        r = Retrieval("s", passages=passages)
        refs = [[p.page_key, p.index] for p in passages]
        assert judge_check_v2(check, r, frozenset()) == fingerprint("judge-check-2", check, refs, [])
        assert passages_digest(r, frozenset()) == fingerprint("judge-check-2", "", refs, [])
        assert judge_check(check, r, frozenset()) == fingerprint("judge-check-3", check,
                                                                 passages_digest(r, frozenset()))
        if passages:
            p = passages[0]
            inline = frozenset({(p.page_key, p.index)})
            own = [[q.page_key, q.index, q.text] for q in passages if (q.page_key, q.index) in inline]
            assert judge_check_v2(check, r, inline) == fingerprint("judge-check-2", check, refs, own)
            assert judge_check(check, r, inline) == fingerprint(
                "judge-check-3", check, fingerprint("judge-check-2", "", refs, own))


def test_judgements_stored_under_the_older_check_are_still_found(zero, tmp_path, monkeypatch):
    """A store written before ``judge-check-3`` (retrievals without ``passages_digest``, judgements under
    ``judge-check-2``) re-runs with nothing judged again, and the same rows; so does a retrieval made again."""
    from reag_harness.pipeline import stage_judge

    older: dict[str, str] = {}
    real = stage_judge.judge_checks

    def remembering(*args):
        check, other = real(*args)
        older[check] = other()
        return check, other

    monkeypatch.setattr(stage_judge, "judge_checks", remembering)
    fresh = zero(40, "fresh")
    monkeypatch.setattr(stage_judge, "judge_checks", real)
    stages = tmp_path / "stages"
    for part in stages.glob("*/*/part-*.jsonl"):  # the store as the earlier layout wrote it
        lines = [json.loads(x) for x in part.read_text().splitlines()]
        for line in lines:
            if part.parts[-3] == "retrieve":
                assert line["record"].pop("passages_digest")
            elif part.parts[-3] == "judge" and "#" not in line["key"]:
                line["check"] = older[line["check"]]
        part.write_text("".join(json.dumps(x) + "\n" for x in lines))
    cached = zero(40, "cached")
    assert {t.stage: (t.n_cached, t.n_computed) for t in cached.timings}["judge"] == (40, 0)
    rows = {out: next((tmp_path / out).iterdir()).joinpath("samples.jsonl").read_bytes() for out in ("fresh", "cached")}
    assert rows["fresh"] == rows["cached"] and cached.metrics == fresh.metrics
    shutil.rmtree(next(stages.glob("retrieve/*")))  # retrieved again: judge-check-3, the older one still accepted
    again = zero(40, "again")
    assert {t.stage: (t.n_cached, t.n_computed) for t in again.timings}["judge"] == (40, 0)


def test_p_yes_lines_write_what_store_line_writes():
    from reag_harness.pipeline.store import p_yes_lines, store_line

    for values in ([0.0, 1.0, 1e-7, 0.3333333333333333], [0.5, float("nan")], [float("inf")], []):
        keys = [f"q\u00e9\"{i}#passage{i}" for i in range(len(values))]
        checks = [f"c{i}\u2028" for i in range(len(values))]
        assert p_yes_lines(keys, checks, values) == "".join(
            store_line(k, c, {"p_yes": v}) for k, c, v in zip(keys, checks, values))


def test_a_cached_rerun_reads_from_the_kb_only_the_pages_of_kept_passages(zero, tmp_path, monkeypatch):
    """Issue 22: a cached Retrieval's texts are the KB's, read when used; ~90% of passages are never used."""
    fresh = zero(100, "fresh")
    pages: list[str] = []  # whole pages read
    texts: list[tuple[str, int]] = []  # single passages read
    page, one = zero_cost.SynthKB.passages, zero_cost.SynthKB.passage
    monkeypatch.setattr(zero_cost.SynthKB, "passages", lambda self, key: pages.append(key) or page(self, key))
    monkeypatch.setattr(zero_cost.SynthKB, "passage", lambda self, key, i: texts.append((key, i)) or one(self, key, i))
    cached = zero(100, "cached")
    pages_read, texts_read = list(pages), list(texts)
    assert {t.stage: t.n_cached for t in cached.timings}["generate"] == 100
    rows = load_sample_logs(next((tmp_path / "cached").iterdir()))
    kept = [(p["page_key"], p["index"]) for r in rows for p in r["passages"] if p["kept"]]
    everything = [(p["page_key"], p["index"]) for r in rows for p in r["passages"]]
    assert not pages_read and len(texts_read) <= len(kept) < len(everything) / 2  # before: all pages read
    assert set(texts_read) == set(kept)
    fresh_rows = load_sample_logs(next((tmp_path / "fresh").iterdir()))
    assert rows == fresh_rows and cached.metrics == fresh.metrics
    for name in ("samples.jsonl", "passage_texts.jsonl"):  # byte for byte: p_yes written as stored, not re-formatted
        texts = {out: next((tmp_path / out).iterdir()).joinpath(name).read_bytes() for out in ("fresh", "cached")}
        assert texts["fresh"] == texts["cached"]


def test_blank_passages_of_a_cached_retrieval_are_dropped_without_reading_their_text():
    from reag_harness.data.kb.memory import InMemoryKB
    from reag_harness.pipeline.sample_rows import retrieval_from_record, retrieval_record
    from reag_harness.records import Passage, Retrieval

    kb = InMemoryKB({"P": {"title": "P", "section_texts": ["a", " \n", "c"]}}, kind="evqa")
    r = Retrieval("q", (("P", 1.0),), tuple(Passage("P", i, t) for i, t in enumerate(["a", " \n", "c"])))
    record, inline = retrieval_record(r, kb)
    assert record["blank"] == [1] and not inline
    back, _ = retrieval_from_record(json.loads(json.dumps(record)), kb)
    assert [p.index for p in back.passages] == [0, 2] and back.info["blank_passages_dropped"] == 1
    assert "text" not in vars(back.passages[0])  # not read yet
    assert back.passages == (Passage("P", 0, "a"), Passage("P", 2, "c"))  # equal to plain passages, read now
    assert hash(back.passages[1]) == hash(Passage("P", 2, "c"))
    import pickle

    assert type(pickle.loads(pickle.dumps(back.passages[0]))) is Passage


def test_a_kb_subclass_that_changes_passages_is_read_through_them():
    """A cached passage's text comes from ``passage(key, index)`` only where the class that defines
    ``passages`` defines it too: a subclass changing ``passages`` is never bypassed."""
    from reag_harness.data.kb.memory import InMemoryKB
    from reag_harness.pipeline.stored_retrieval import passage_reader

    class Shouting(InMemoryKB):
        def passages(self, key: str) -> list[str]:
            return [t.upper() for t in super().passages(key)]

    pages = {"P": {"title": "P", "section_texts": ["a", "b"]}}
    assert passage_reader(InMemoryKB(pages, kind="evqa"))("P", 1) == "b"
    assert passage_reader(Shouting(pages, kind="evqa"))("P", 1) == "B"
