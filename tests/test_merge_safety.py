"""``merge`` destroys nothing and lays out its run folder as ``run`` does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.cli.app import main
from reag_harness.core.errors import HarnessError
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.results.shard_merge import merge_runs

from . import pipeline_plugin
from .test_runner import LEXICAL, run_folder


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        args = dict(LEXICAL, output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"), limit=6)
        yield [run_folder(evaluate(**args, shard=f"{i}/2")) for i in range(2)]
    finally:
        unregister_plugin("test-pipeline")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_merge_refuses_a_shard_folder_it_reads(shards, capsys) -> None:
    before = [snapshot(s) for s in shards]
    for target in (shards[0], shards[1] / "sub"):
        with pytest.raises(HarnessError, match="shard folder"):
            merge_runs(shards, target)
    assert [snapshot(s) for s in shards] == before and not (shards[1] / "sub").exists()
    assert main(["merge", *map(str, shards), "--output-dir", str(shards[0]), "--no-leaderboard"]) == 2
    assert "which this merge reads" in capsys.readouterr().err
    assert [snapshot(s) for s in shards] == before and len(list(shards[0].iterdir())) == len(before[0])


def test_merge_refuses_a_folder_holding_files_it_did_not_write(shards, tmp_path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "results.json").write_text('{"someone": "else"}')
    with pytest.raises(HarnessError, match="did not write.*results.json"):
        merge_runs(shards, theirs)
    assert (theirs / "results.json").read_text() == '{"someone": "else"}' and len(list(theirs.iterdir())) == 1
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    with pytest.raises(HarnessError, match="notes.txt"):
        merge_runs(shards, notes)
    assert [p.name for p in notes.iterdir()] == ["notes.txt"]


def test_re_merge_replaces_only_its_own_files(shards, tmp_path) -> None:
    first = merge_runs(shards, tmp_path / "merged")
    second = merge_runs(shards, tmp_path / "merged")
    assert first.metrics == second.metrics and first.run_id != second.run_id


def test_merge_cli_writes_a_run_folder_inside_output_dir_with_a_sensible_id(shards, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["merge", *map(str, shards), "--output-dir", str(out), "--no-leaderboard"]) == 0
    (folder,) = out.iterdir()
    shard_name = shards[0].name
    assert folder.name == shard_name.replace("__shard0of2", "__merged") and folder.name.endswith("__merged")
    data = json.loads((folder / "results.json").read_text())
    assert data["run_id"].startswith(folder.name + "__") and "of2" not in data["run_id"]
    assert data["config"]["run_dir"] == str(folder.resolve()) and data["n"] == 6
    assert data["config"]["merged_from"] == [json.loads((s / "results.json").read_text())["run_id"] for s in shards]
