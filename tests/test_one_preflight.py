"""One pre-flight for data and models: every problem of a run in one error, before any model loads."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.cli.app import main
from reag_harness.core.preflight import PreflightError
from reag_harness.models import hf_loading
from tests.kbdata import synth


@pytest.fixture(scope="module")
def infoseek(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("one-preflight")
    mk = synth()
    mk.write_kb(root / "kb.json", 20, "infoseek")
    data = mk.write_infoseek_queries(root / "q", 4, 20)
    return {"kb": root / "kb.json", **data}


def test_missing_index_critic_and_queries_are_one_error(infoseek: dict[str, Path], tmp_path: Path) -> None:
    loads = dict(hf_loading.LOAD_COUNTS)
    with pytest.raises(PreflightError) as err:
        evaluate(task="infoseek", task_args={"kb": str(infoseek["kb"]), "queries": str(tmp_path / "nope.jsonl"),
                                             "images": str(infoseek["images"])},
                 retriever="eva-clip", retriever_args={"trust_remote_code": True, "crop": False},
                 critic="reag-critic", critic_args={"pretrained": str(tmp_path / "no-critic")},
                 generator="tiny-qwen2.5-vl", quiet=True, no_leaderboard=True,
                 output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    message = str(err.value)
    assert "before any stage ran" in message
    assert "nope.jsonl" in message and "query file not found" in message  # the queries file
    assert "no index given" in message  # the retriever's index
    assert "no-critic" in message  # the critic checkpoint
    assert message.count("nope.jsonl: query file not found") == 1  # listed once, not by two checks
    assert hf_loading.LOAD_COUNTS == loads  # no model loaded
    assert not (tmp_path / "runs").exists()


def test_data_check_fails_on_a_retriever_without_its_index(infoseek: dict[str, Path]) -> None:
    args = f"kb={infoseek['kb']},queries={infoseek['queries']},images={infoseek['images']}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["data", "check", "--task", "infoseek", "--task-args", args, "--retriever", "eva-clip",
                     "--retriever-args", "trust_remote_code=true,crop=false", "--json"])
    rows = {c["name"]: c for c in json.loads(out.getvalue())["checks"]}
    assert code == 1
    assert rows["retriever eva-clip index"]["status"] == "fail"
    assert "no index given" in rows["retriever eva-clip index"]["detail"]


def test_remote_code_is_said_in_one_line(infoseek: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from reag_harness.core.preflight import remote_code_notice
    from reag_harness.pipeline.components import Resolved

    choice = {"retriever": Resolved("eva-clip", {"trust_remote_code": True}, "preset reag-7b"),
              "generator": Resolved("reag-7b", {}, "preset reag-7b")}
    line = remote_code_notice(choice)
    assert line is not None and "\n" not in line and "retriever eva-clip (preset reag-7b)" in line
    assert remote_code_notice({"generator": Resolved("reag-7b", {}, "cli")}) is None


def test_an_eva_clip_encoder_folder_without_weights_is_a_preflight_problem(tmp_path: Path) -> None:
    from plugins.retrievers.eva_clip import EvaClipRetriever
    from reag_harness.interfaces import Runtime

    folder = tmp_path / "eva"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "evaclip", "auto_map": {"AutoModel": "m.M"}}))
    problems = EvaClipRetriever(Runtime(), index="titles", pretrained=str(folder), encoder="transformers",
                                trust_remote_code=True).preflight()
    assert any("no weights in" in p for p in problems), problems
    missing = EvaClipRetriever(Runtime(), index="titles", pretrained=str(tmp_path / "nope"), encoder="transformers",
                               trust_remote_code=True).preflight()
    assert any("no checkpoint folder" in p for p in missing), missing


def test_the_native_eva_clip_checkpoint_is_checked_against_its_model_in_preflight(tmp_path: Path) -> None:
    import shutil

    import torch

    from plugins.retrievers.eva_clip import EvaClipRetriever
    from reag_harness.interfaces import Runtime
    from reag_harness.models.tiny.eva_clip_8b import tiny_eva_clip_8b_path

    folder = tmp_path / "eva8b"
    shutil.copytree(tiny_eva_clip_8b_path("bin"), folder)
    assert EvaClipRetriever(Runtime(), index="titles", pretrained=str(folder)).model_problems() == []
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    gone = next(k for k in state if k.startswith("text_model."))
    del state[gone]
    torch.save(state, folder / "pytorch_model.bin")
    problems = EvaClipRetriever(Runtime(), index="titles", pretrained=str(folder)).model_problems()
    assert any(gone in p for p in problems), problems
    missing = EvaClipRetriever(Runtime(), index="titles", pretrained=str(tmp_path / "nope")).model_problems()
    assert any("nope" in p for p in missing), missing


def test_several_tasks_list_every_problem_in_one_error(infoseek: dict[str, Path], tmp_path: Path) -> None:
    from reag_harness.cli.multitask import evaluate_tasks
    from reag_harness.core.config import RunConfig

    cfg = RunConfig.from_mapping({
        "task": "infoseek,evqa", "retriever": "oracle-page", "critic": "none", "generator": "tiny-qwen2.5-vl",
        "task_args": {"kb": str(infoseek["kb"]), "queries": str(tmp_path / "nope.jsonl"), "evqa.no_bem": "true"},
        "output_dir": str(tmp_path / "runs"), "no_leaderboard": True, "quiet": True}, source="test")
    with pytest.raises(PreflightError) as err:
        evaluate_tasks(cfg)
    assert "task infoseek:" in str(err.value) and "task evqa:" in str(err.value)


def test_data_check_reports_bem_and_the_retriever_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "tfhub"))  # no BEM anywhere
    mk = synth()
    mk.write_kb(tmp_path / "kb.json", 6, "evqa")
    q = mk.write_evqa_queries(tmp_path / "q", 2, 6)
    args = f"kb={tmp_path / 'kb.json'},queries={q['queries']},images={q['images']}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["data", "check", "--task", "evqa", "--task-args", args, "--retriever", "eva-clip",
                     "--retriever-args",
                     f"index=titles,encoder=transformers,trust_remote_code=true,pretrained={tmp_path / 'no-eva'}",
                     "--json"])
    rows = [c for c in json.loads(out.getvalue())["checks"]]
    assert code == 1
    assert any(r["name"] == "bem" and r["status"] == "fail" for r in rows), rows
    assert any(r["name"] == "retriever eva-clip models" and r["status"] == "fail" and "no-eva" in r["detail"]
               for r in rows), rows



def test_clip_and_dense_text_retriever_models_are_checked_in_preflight(tmp_path: Path) -> None:
    from plugins.retrievers.clip import ClipRetriever
    from plugins.retrievers.dense_text import DenseTextRetriever
    from reag_harness.interfaces import Runtime
    from reag_harness.models.tiny.clip import TINY_MODEL, tiny_clip_checkpoint

    gone = tmp_path / "nope"
    hf = ClipRetriever(Runtime(), index="titles", encoder="hf", model=str(gone)).model_problems()
    assert any(str(gone) in p for p in hf), hf
    weights = tmp_path / "missing.safetensors"
    oc = ClipRetriever(Runtime(), index="titles", model=TINY_MODEL, pretrained=str(weights)).model_problems()
    assert any(str(weights) in p for p in oc), oc
    assert ClipRetriever(Runtime(), index="titles", model=TINY_MODEL,
                         pretrained=str(tiny_clip_checkpoint())).model_problems() == []
    assert ClipRetriever(Runtime(), index="titles", model="ViT-L-14", pretrained="openai").model_problems() == []
    dense = DenseTextRetriever(Runtime(), model=str(gone)).preflight()
    assert any(str(gone) in p for p in dense), dense
    assert DenseTextRetriever(Runtime()).preflight() == []  # the packaged MiniLM
