"""A cached record never outlives a changed input file (image replaced in place, per-sample files)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from reag_harness.api import evaluate
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.hookspecs import hookimpl
from reag_harness.tasks.demo.task import DemoTask

from . import pipeline_plugin
from .pipeline_plugin import CALLS, TitleRetriever

LEXICAL = dict(task="demo", retriever="test-title", critic="test-overlap", generator="test-first-number",
               prompt_style="test-context", quiet=True, no_leaderboard=True, limit=4)


class NotesRetriever(TitleRetriever):
    """Reads one side file per sample (declared through ``input_files``)."""

    def input_files(self, sample):
        return [os.path.join(self.args["notes"], f"{sample.id}.txt")]


@pytest.fixture
def lexical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REAG_HARNESS_CACHE", str(tmp_path / "cache"))  # demo images drawn here
    register_plugin(pipeline_plugin, "test-pipeline")
    extra = SimpleNamespace(register_retrievers=hookimpl(lambda register: register("test-notes", NotesRetriever)))
    register_plugin(extra, "test-notes-plugin")
    CALLS.clear()
    yield dict(LEXICAL, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    unregister_plugin("test-notes-plugin")
    unregister_plugin("test-pipeline")


def cached(results) -> dict[str, tuple[int, int]]:
    return {t.stage: (t.n_computed, t.n_cached) for t in results.timings if t.stage != "score"}


def test_an_image_replaced_in_place_is_recomputed_the_others_come_from_the_cache(lexical, tmp_path):
    first = evaluate(**lexical)
    assert cached(first) == {"retrieve": (4, 0), "judge": (4, 0), "generate": (4, 0)}
    images = [Path(s.image) for s in DemoTask().samples(limit=4)]
    target = images[1]
    n_changed = images.count(target)
    stat = target.stat()
    # Another picture, same path, same mtime (as a copy with cp -p would leave it).
    Image.new("RGB", (224, 224), (1, 2, 3)).save(target)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = evaluate(**lexical)
    n, rest = n_changed, 4 - n_changed
    assert cached(second) == {"retrieve": (n, rest), "judge": (n, rest), "generate": (n, rest)}


def test_a_per_sample_input_file_a_component_declares_is_covered(lexical, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    for i in range(4):
        (notes / f"demo-{i:03d}.txt").write_text(f"note {i}")
    args = dict(lexical, retriever="test-notes", retriever_args={"notes": str(notes)})
    evaluate(**args)
    (notes / "demo-002.txt").write_text("note 2, edited")
    again = evaluate(**args)
    assert cached(again)["retrieve"] == (1, 3)


def test_digests_are_remembered_across_processes_until_the_file_changes(tmp_path, monkeypatch):
    from reag_harness.core import digests

    monkeypatch.setenv("REAG_HARNESS_CACHE", str(tmp_path / "cache"))
    image = tmp_path / "a.png"
    image.write_bytes(b"first")
    first = digests.content_digest(image)
    monkeypatch.setattr(digests, "_memo", None)  # as a new process would start

    class NoHashing:
        def __init__(self, *args):
            raise AssertionError("re-hashed a file whose digest is remembered")

    monkeypatch.setattr(digests.hashlib, "sha256", NoHashing)
    assert digests.content_digest(image) == first
    monkeypatch.undo()
    monkeypatch.setenv("REAG_HARNESS_CACHE", str(tmp_path / "cache"))
    stat = image.stat()
    image.write_bytes(b"other")  # same size, same mtime: a new ctime
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert digests.content_digest(image) != first


def test_within_a_batch_each_file_is_looked_at_once_and_the_next_batch_sees_a_change(tmp_path, monkeypatch):
    """The runner asks for a query image's digest three times per sample (retrieval, critic, generation);
    inside ``looked_at_once`` (one batch) it is ``stat``-ed once; outside, every time."""
    from reag_harness.core import digests

    monkeypatch.setenv("REAG_HARNESS_CACHE", str(tmp_path / "cache"))
    image = tmp_path / "a.png"
    image.write_bytes(b"first")
    looks: list[str] = []
    real_key = digests._key
    monkeypatch.setattr(digests, "_key", lambda p: looks.append(str(p)) or real_key(p))
    with digests.looked_at_once():
        first = [digests.content_digest(str(image)) for _ in range(3)]
        image.write_bytes(b"other")  # replaced while its batch runs
        assert digests.content_digest(str(image)) == first[0]
    assert len(set(first)) == 1 and looks.count(str(image)) == 1
    assert digests.content_digest(str(image)) != first[0]  # the next batch sees it
    assert digests._seen is None


def test_a_run_stats_each_query_image_once_per_batch(lexical, tmp_path, monkeypatch):
    from reag_harness.core import digests

    looks: list[str] = []
    real_key = digests._key
    monkeypatch.setattr(digests, "_key", lambda p: looks.append(str(p)) or real_key(p))
    evaluate(**lexical, chunk_size=2)
    images = {s.image for s in DemoTask().samples(limit=4)}
    assert images and all(looks.count(i) == 1 for i in images), looks  # before: once per stage
