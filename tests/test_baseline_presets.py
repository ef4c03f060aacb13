"""The leaderboard's baseline presets run end to end on the demo: the real preset, with only the
checkpoint swapped for its tiny stand-in (``--generator-args pretrained=tiny:<family>``) or the
API endpoint pointed at the test server (tests/chat_server.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .chat_server import ServerProcess


def run(tmp_path: Path, capsys, *args: str) -> tuple[dict, list[dict]]:
    from reag_harness.cli.app import main

    out = tmp_path / "runs"
    code = main(["--task", "demo", "--limit", "2", *args, "--output-dir", str(out),
                 "--cache-dir", str(tmp_path / "stages"), "--no-leaderboard", "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    [folder] = out.iterdir()
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return json.loads((folder / "results.json").read_text()), rows


def test_text_only_llama_preset_reads_retrieved_passages_without_the_image(tmp_path, capsys):
    results, rows = run(tmp_path, capsys, "--preset", "llama-3.1-8b-text-eva-clip", "--generator", "hf-llm",
                        "--generator-args", "pretrained=tiny:llama")
    resolved = results["config"]["resolved"]
    assert resolved["generator"]["name"] == "hf-llm" and resolved["generator"]["args"]["pretrained"] == "tiny:llama"
    assert resolved["retriever"]["name"] == "eva-clip" and resolved["retriever"]["args"]["top_k"] == 5
    assert resolved["prompt_style"]["args"]["text_only"] is True
    assert all(r["passages"] and all(p["kept"] for p in r["passages"]) and isinstance(r["raw_output"], str)
               for r in rows)


@pytest.mark.parametrize("preset,family", [("blip-2-zero-shot", "blip-2"), ("llava-1.5-7b-zero-shot", "llava")])
def test_zero_shot_vlm_presets_run_on_their_family(preset, family, tmp_path, capsys):
    results, rows = run(tmp_path, capsys, "--preset", preset, "--generator", "hf-vlm",
                        "--generator-args", f"pretrained=tiny:{family}")
    assert results["components"]["generator"]["name"] == "hf-vlm"
    assert results["config"]["resolved"]["retriever"]["name"] == "none"
    assert len(rows) == 2 and all(r["passages"] == [] and isinstance(r["raw_output"], str) for r in rows)


def test_gpt4v_preset_runs_through_an_openai_compatible_server(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-preset-test")
    server = ServerProcess()
    try:
        results, rows = run(tmp_path, capsys, "--preset", "gpt-4v-zero-shot", "--generator", "openai",
                            "--generator-args", f"base_url={server.url}")
        state = server.state()
    finally:
        server.close()
    generator = results["components"]["generator"]
    assert generator["args"]["model"].startswith("gpt-4") and generator["checkpoint"].startswith("served/gpt-4")
    assert state["total"] == 2 and all(i["data_url"] for i in state["images"])
    assert all(r["answer"].startswith("server reasoning") for r in rows)  # direct prompt: the whole output
