"""Runs a researcher can tell apart and compare: checkpoint names, kept results files, no-BEM rows, score folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reag_harness.api import evaluate
from reag_harness.leaderboard import board as lb
from reag_harness.leaderboard.view import render_html, render_markdown, render_table, view_rows
from reag_harness.results.compare import compare_runs, format_comparison
from reag_harness.results.files import history, move_foreign
from reag_harness.results.run_results import ComponentInfo, RunResults, StageTiming


def test_two_hf_vlm_checkpoints_are_named_everywhere(tmp_path: Path) -> None:
    board = tmp_path / "board.json"
    llava = evaluate(task="demo", generator="hf-vlm", generator_args="pretrained=tiny:llava", limit=2,
                     output_dir=str(tmp_path / "runs"), quiet=True)
    gemma = evaluate(task="demo", generator="hf-vlm", generator_args="pretrained=tiny:gemma3", limit=2,
                     output_dir=str(tmp_path / "runs"), quiet=True)
    for r in (llava, gemma):
        lb.append_run(r, board)
    dirs = [Path(r.config["run_dir"]) for r in (llava, gemma)]
    assert "__tiny-llava-" in dirs[0].name and "__tiny-gemma3-" in dirs[1].name
    for r, family in ((llava, "llava"), (gemma, "gemma3")):
        gen = r.components["generator"]
        assert gen.label.startswith(f"tiny-{family}@") and len(gen.label.split("@")[1]) == 7
        assert gen.n_params and gen.n_params > 1000  # counted from the safetensors headers
    header = format_comparison(compare_runs(dirs[0], dirs[1], n_boot=50)).splitlines()[:2]
    assert "hf-vlm tiny-llava@" in header[0] and "hf-vlm tiny-gemma3@" in header[1]
    from reag_harness.results.viewer import viewer_data

    page = viewer_data([dirs[0], dirs[1]], tmp_path / "view.html")
    assert "tiny-llava@" in page["runs"][0]["components"] and "tiny-gemma3@" in page["runs"][1]["components"]
    rows = view_rows(lb.load_leaderboard(board), task="demo", include_smoke=True)
    generators = sorted(r["generator"] for r in rows)
    assert generators[0].startswith("hf-vlm tiny-gemma3@") and generators[1].startswith("hf-vlm tiny-llava@")
    sizes = {r["setting_columns"]["size"] for r in rows}
    assert all(s and s.endswith("K") for s in sizes), sizes  # parameters, never a "B" read from a name
    table = render_table(rows)
    assert "tiny-llava@" in table and "tiny-gemma3@" in table


def test_same_command_twice_keeps_both_results_files(tmp_path: Path) -> None:
    first = evaluate(task="demo", generator="hf-vlm", generator_args="pretrained=tiny:llava", limit=1,
                     output_dir=str(tmp_path), quiet=True)
    second = evaluate(task="demo", generator="hf-vlm", generator_args="pretrained=tiny:llava", limit=1,
                      output_dir=str(tmp_path), quiet=True)
    folder = Path(first.config["run_dir"])
    assert Path(second.config["run_dir"]) == folder
    kept = history(folder)
    assert [p.name for p in kept] == sorted([first.results_file, second.results_file])
    assert json.loads(kept[0].read_text())["run_id"] == first.run_id
    assert json.loads((folder / "results.json").read_text())["run_id"] == second.run_id  # the latest
    # a specific results file is accepted where a run folder is
    report = compare_runs(kept[0], folder / "results.json", n_boot=20)
    assert report["run_a"]["run_id"] == first.run_id and report["run_b"]["run_id"] == second.run_id
    assert lb.entry_from_results(kept[0])["run_id"] == first.run_id
    from reag_harness.results.viewer import viewer_data

    assert viewer_data([kept[0]], tmp_path / "v.html")["runs"][0]["run_id"] == first.run_id


def test_foreign_results_are_moved_aside_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "results.json").write_text('{"someone": "else"}')
    (folder / "samples.jsonl").write_text('{"theirs": 1}\n')
    moved = move_foreign(folder, "fp-ours")
    assert sorted(p.name.split(".foreign-")[0] for p in moved) == ["results.json", "samples.jsonl"]
    assert all(p.read_text() for p in moved) and not (folder / "results.json").exists()
    assert "moved aside" in capsys.readouterr().err
    (folder / "results.json").write_text('{"config_fingerprint": "fp-ours"}')
    (folder / "samples.jsonl").write_text("{}\n")
    assert move_foreign(folder, "fp-ours") == []  # our own files stay


def _evqa_results(run_id: str, bem: bool, single_hop: float) -> RunResults:
    metrics = {"all": single_hop, "single_hop": single_hop, "two_hop": None, "bem_used": bem,
               "metric": "em+bem" if bem else "em-only lower bound (no BEM)"}
    return RunResults(
        run_id=run_id, task="evqa", split="test", n=5750, metrics=metrics, headline_metric="single_hop",
        components={"generator": ComponentInfo("generator", "reag-7b", {}, {}, label="aimagelab/ReAG-7B@abc1234"),
                    "task": ComponentInfo("task", "evqa", {"no_bem": not bem}, {})},
        retrieval_quality={}, errors={"count": 0, "by_stage": {}}, timings=[StageTiming("generate", 1.0, 1, 0)],
        config={}, config_fingerprint=f"fp-{run_id}", versions={"harness": "0.1.0"}, git_hash=None, seed=0,
        device="cpu", date="2026-01-01T00:00:00Z")


def test_no_bem_row_is_marked_in_every_format_and_ranked_apart() -> None:
    entries = [lb.entry_from_results(_evqa_results("em-only", False, 60.0)),
               lb.entry_from_results(_evqa_results("with-bem", True, 50.0))]
    rows = view_rows(entries, task="evqa", source="measured")
    assert [r["id"] for r in rows] == ["with-bem", "em-only"]  # the higher lower bound is not ranked first
    assert rows[1]["no_bem"] and not rows[0]["no_bem"]
    table = render_table(rows)
    assert "measured (no BEM)" in table and "60.0†" in table and "WITHOUT BEM" in table
    markdown = render_markdown(rows)
    assert "measured (no BEM)" in markdown and "WITHOUT BEM" in markdown
    page = render_html(rows, task="evqa")
    assert '"no_bem":true' in page.replace(' ', '') and "no BEM" in page and "WITHOUT BEM" in page


def _score(tmp_path: Path, name: str, preds: dict[str, str]) -> Path:
    from reag_harness.results.scoring import score_predictions

    refs = [{"data_id": "q1", "data_split": "val_unseen_question", "answer_eval": ["Eiffel Tower"]},
            {"data_id": "q2", "data_split": "val_unseen_question", "answer_eval": ["1889"]},
            {"data_id": "e1", "data_split": "val_unseen_entity", "answer_eval": ["Paris"]}]
    qtypes = {"q1": "STRING", "q2": "TIME", "e1": "STRING"}
    (tmp_path / "refs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in refs))
    (tmp_path / "qtypes.jsonl").write_text("".join(json.dumps({"data_id": k, "question_type": v}) + "\n"
                                                   for k, v in qtypes.items()))
    (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps({"data_id": k, "prediction": v}) + "\n"
                                                    for k, v in preds.items()))
    out = tmp_path / name
    score_predictions("infoseek", tmp_path / f"{name}.jsonl", tmp_path / "refs.jsonl", tmp_path / "qtypes.jsonl",
                      output_dir=out)
    return out


def test_compare_of_two_score_folders(tmp_path: Path) -> None:
    a = _score(tmp_path, "a", {"q1": "eiffel tower", "q2": "1900", "e1": "paris"})
    b = _score(tmp_path, "b", {"q1": "eiffel tower", "q2": "1889", "e1": "paris"})
    report = compare_runs(a, b, n_boot=50)
    overall = next(c for c in report["comparisons"] if c["metric"] == "correct" and c["group"] == "all")
    assert overall["n"] == 3 and overall["a"] == pytest.approx(2 / 3) and overall["b"] == 1.0
    text = format_comparison(report)
    assert "score__infoseek__a__" in text and "split refs" in text
    assert len(history(a)) == 1  # a score output keeps its results_<time>.json too


def test_split_evaluated_is_recorded() -> None:
    from types import SimpleNamespace

    from reag_harness.results.run_identity import evaluated_split

    samples = [SimpleNamespace(meta={"split": "val_unseen_entity", "data_split": "val_unseen_entity"}),
               SimpleNamespace(meta={"split": "val_unseen_question"})]
    task = SimpleNamespace(args={})
    assert evaluated_split(None, task, samples) == "val_unseen_entity+val_unseen_question"
    assert evaluated_split("test", task, samples) == "test"
    assert evaluated_split(None, SimpleNamespace(args={"split": "val"}), samples) == "val"
    assert evaluated_split(None, task, [SimpleNamespace(meta={})]) is None


def test_preset_runs_show_their_preset_and_swaps_on_the_leaderboard() -> None:
    r = _evqa_results("preset-run", True, 50.0)
    r.config = {"preset": None, "resolved": {"generator": {"name": "reag-7b", "args": {}, "source": "preset reag-7b"},
                                             "retriever": {"name": "bm25", "args": {}, "source": "cli"}}}
    r.preset_departures = [{"kind": "retriever", "used": "bm25"}]
    entry = lb.entry_from_results(r)
    assert entry["preset"] == "reag-7b (swapped: retriever bm25)"
    (row,) = view_rows([entry], task="evqa")
    assert row["preset"] == "reag-7b (swapped: retriever bm25)"


def test_compare_names_a_no_bem_score_output(tmp_path: Path) -> None:
    from reag_harness.results.scoring import score_predictions

    (tmp_path / "test.csv").write_text("question,answer,question_type,dataset_image_ids,wikipedia_url\n"
                                       "Where is this tower?,Paris,templated,a,u\nWhat is it?,a bridge,automatic,b,u\n")
    outs = []
    for name, pred in (("a", "paris"), ("b", "rome")):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"data_id": "0", "prediction": pred}) + "\n" +
                                                json.dumps({"data_id": "1", "prediction": "a bridge"}) + "\n")
        score_predictions("evqa", tmp_path / f"{name}.jsonl", tmp_path / "test.csv", no_bem=True,
                          output_dir=tmp_path / name)
        outs.append(tmp_path / name)
    header = format_comparison(compare_runs(*outs, n_boot=20)).splitlines()[:2]
    assert all("no BEM: EM-only lower bound" in line for line in header)


def test_a_run_moves_foreign_files_aside_and_names_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reag_harness.core.plugin_manager import register_plugin, unregister_plugin

    from . import pipeline_plugin

    register_plugin(pipeline_plugin, "test-pipeline")
    try:
        options = dict(task="demo", retriever="test-title", critic="test-overlap", generator="test-first-number",
                       prompt_style="test-context", quiet=True, no_leaderboard=True, limit=2,
                       output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
        folder = Path(evaluate(**options).config["run_dir"])
        for name in ("results.json", "samples.jsonl"):
            (folder / name).write_text('{"someone": "else"}\n')
        for old in history(folder):
            old.unlink()  # a folder holding only another tool's files
        evaluate(**options)
    finally:
        unregister_plugin("test-pipeline")
    aside = sorted(p.name.split(".foreign-")[0] for p in folder.glob("*.foreign-*"))
    assert aside == ["passage_texts.jsonl", "results.json", "samples.jsonl"]
    assert "moved aside" in capsys.readouterr().err
    assert json.loads((folder / "results.json").read_text())["task"] == "demo"
