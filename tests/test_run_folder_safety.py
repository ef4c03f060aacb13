"""Writing a run folder never destroys the previous result: samples.jsonl is replaced at the end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.cli.app import main
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.pipeline.stage_generate import GenerateStage

from . import pipeline_plugin

LEXICAL = dict(task="demo", retriever="test-title", critic="test-overlap", generator="test-first-number",
               prompt_style="test-context", quiet=True, no_leaderboard=True, limit=6, chunk_size=2)


@pytest.fixture
def lexical(tmp_path: Path):
    register_plugin(pipeline_plugin, "test-pipeline")
    yield dict(LEXICAL, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    unregister_plugin("test-pipeline")


def folder_of(results) -> Path:
    return Path(results.config["output_dir"]) / results.run_id.rsplit("__", 1)[0]


def test_an_interrupted_rerun_keeps_the_finished_samples(lexical, monkeypatch):
    first = evaluate(**lexical)
    folder = folder_of(first)
    before = (folder / "samples.jsonl").read_text()
    texts = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert len(before.splitlines()) == 6
    real = GenerateStage.run
    calls = []

    def interrupted(self, state, *args, **kwargs):
        calls.append(len(state.batch))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, state, *args, **kwargs)

    monkeypatch.setattr(GenerateStage, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate(**lexical)
    assert (folder / "samples.jsonl").read_text() == before
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == texts  # every file as it was, no temp file left


def test_a_samples_symlink_is_replaced_not_followed(lexical, tmp_path):
    first = evaluate(**lexical)
    folder = folder_of(first)
    outside = tmp_path / "precious.jsonl"
    outside.write_text("keep me\n")
    (folder / "samples.jsonl").unlink()
    os.symlink(outside, folder / "samples.jsonl")
    evaluate(**lexical)
    assert outside.read_text() == "keep me\n"
    assert not (folder / "samples.jsonl").is_symlink()
    assert len((folder / "samples.jsonl").read_text().splitlines()) == 6


def test_a_stale_temp_file_of_a_killed_run_is_removed(lexical):
    folder = folder_of(evaluate(**lexical))
    import socket

    host = socket.gethostname().replace(".", "_")
    stale = folder / f".samples.jsonl.{host}-{2**22 + 12345}-abcdef.tmp"  # a pid above pid_max: dead
    stale.write_text("half")
    evaluate(**lexical)
    assert not stale.exists()


def test_output_dir_that_is_a_file_is_one_line(lexical, tmp_path, capsys):
    afile = tmp_path / "results.txt"
    afile.write_text("x")
    code = main(["--task", "demo", "--retriever", "test-title", "--critic", "test-overlap", "--generator",
                 "test-first-number", "--prompt-style", "test-context", "--limit", "2", "--quiet", "--no-leaderboard",
                 "--output-dir", str(afile), "--cache-dir", lexical["cache_dir"]])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(afile) in err and "not a folder" in err
    assert afile.read_text() == "x"
