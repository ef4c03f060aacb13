"""EVQA scoring's BEM model and vocab are checked before the first stage; nothing downloads without opt-in."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.cli.app import main
from reag_harness.core.errors import HarnessError
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.core.preflight import PreflightError
from reag_harness.data.kb.build import build_store
from reag_harness.interfaces import Runtime
from reag_harness.tasks.evqa import bem
from reag_harness.tasks.evqa.task import EvqaTask

from . import pipeline_plugin
from .kbdata import synth
from .pipeline_plugin import CALLS


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty TF Hub and harness caches, and a network that fails the test if touched."""
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))
    monkeypatch.setenv("REAG_HARNESS_CACHE", str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("evqa-pre")
    s = synth()
    kb_json = s.write_kb(root / "kb.json", 6, "evqa", seed=1)
    build_store(str(kb_json), str(root / "store"), "evqa")
    paths = s.write_evqa_queries(root, 4, 6, fmt="json", seed=1)
    return {"queries": str(paths["queries"]), "images": str(paths["images"]), "kb": str(root / "store")}


def test_missing_bem_is_one_message_naming_every_way_out(offline: Path) -> None:
    problems = EvqaTask(Runtime()).preflight()
    assert problems and any("BEM model" in p for p in problems) and any("BEM vocab" in p for p in problems)
    for flag in ("--bem-model", "--bem-vocab", "--no-bem", "--bem-download"):
        assert all(flag in p for p in problems if "not available offline" in p), flag


def test_local_files_no_bem_or_opt_in_satisfy_the_check(offline: Path) -> None:
    model = offline / "bem-model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(b"")
    vocab = offline / "vocab.txt"
    vocab.write_text("[PAD]\n")
    def bem_problems(task: EvqaTask) -> list[str]:  # the data checks (no queries here) are tested elsewhere
        return [p for p in task.preflight() if not p.startswith("queries:")]

    assert bem_problems(EvqaTask(Runtime(), bem_model=str(model), bem_vocab=str(vocab))) == []
    assert bem_problems(EvqaTask(Runtime(), no_bem="true")) == []
    opted = bem_problems(EvqaTask(Runtime(), bem_download="true"))
    assert not any("not available offline" in p for p in opted)
    missing = bem_problems(EvqaTask(Runtime(), bem_model=str(offline / "nope"), bem_vocab=str(vocab)))
    assert len(missing) == 1 and "nope" in missing[0]


def test_a_run_stops_before_retrieval_when_bem_is_missing(offline: Path, data: dict) -> None:
    register_plugin(pipeline_plugin, "test-pipeline")
    CALLS.clear()
    try:
        with pytest.raises(PreflightError, match="--bem-model"):
            evaluate(task="evqa", task_args=data, retriever="test-title", critic="test-overlap",
                     generator="test-first-number", prompt_style="test-context", quiet=True, no_leaderboard=True,
                     output_dir=str(offline / "runs"), cache_dir=str(offline / "stages"))
    finally:
        unregister_plugin("test-pipeline")
    assert sum(CALLS.values()) == 0  # not one retrieval, critic or generator call


def test_no_download_without_opt_in(offline: Path) -> None:
    with pytest.raises(HarnessError, match="downloading it was not allowed"):
        bem._fetch_vocab(bem.OFFICIAL_VOCAB)


def test_score_command_checks_bem_before_reading_predictions(offline: Path, capsys) -> None:
    code = main(["score", "--task", "evqa", "--predictions", str(offline / "none.jsonl"), "--references",
                 str(offline / "none.csv"), "--output-dir", str(offline / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "pre-flight" in err and "--no-bem" in err
