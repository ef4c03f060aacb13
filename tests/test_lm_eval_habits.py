"""lm-eval / lmms-eval habits that carry over: option aliases, fractional --limit, usage of an unknown flag,
YAML configs with every long option; smoke runs honest (generation_config max_new_tokens, official values once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reag_harness.cli.app import build_parser, main
from reag_harness.cli.commands.run import config_from_args
from reag_harness.results.report import fold_official


def _config(argv: list[str]):
    args = build_parser().parse_args(["run", *argv])
    return config_from_args(args)


def test_lm_eval_option_aliases_map_to_ours(tmp_path: Path) -> None:
    cfg = _config(["--tasks", "demo", "--model_args", "pretrained=tiny:llava", "--output_path", str(tmp_path),
                   "--gen_kwargs", "do_sample=false,temperature=0", "--batch_size", "4", "--log_samples",
                   "--use_cache", str(tmp_path / "cache")])
    assert cfg.task == "demo" and cfg.output_dir == str(tmp_path) and cfg.batch_size == 4
    assert cfg.generator_args == {"pretrained": "tiny:llava", "do_sample": False, "temperature": 0}
    assert cfg.cache_dir == str(tmp_path / "cache")


def test_yaml_config_takes_every_long_option_and_gen_kwargs(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("tasks: demo\nmodel_args: pretrained=tiny:llava\ngen_kwargs: temperature=0.5\n"
                    "limit: 0.5\nno_cache: true\nverbose: true\nlog_samples: true\noutput_path: out\n")
    cfg = _config(["--config", str(path)])
    assert cfg.task == "demo" and cfg.generator_args == {"pretrained": "tiny:llava", "temperature": 0.5}
    assert cfg.limit == 0.5 and cfg.cache is False and cfg.verbose is True and cfg.output_dir == "out"


def test_unknown_flag_prints_runs_usage_and_the_closest_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--task", "demo", "--ouput-dir", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: reag-eval run") and "did you mean --output-dir?" in err
    assert main(["--tasks", "demo", "--num_fewshot", "3"]) == 2
    err = capsys.readouterr().err
    assert "usage: reag-eval run" in err and "few_shot_set" in err and "'3'" not in err
    assert main(["--model", "llava", "--model_args", "pretrained=x", "--tasks", "demo"]) == 2  # not --model_args
    assert "the model is the generator: --generator NAME" in capsys.readouterr().err


def test_fractional_limit_takes_that_share(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--tasks", "demo", "--model_args", "pretrained=tiny:qwen2.5-vl", "--generator", "hf-vlm",
                 "--limit", "0.25", "--output_path", str(tmp_path), "--no-leaderboard", "--quiet"]) == 0
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len((folder / "samples.jsonl").read_text().splitlines()) == 6  # 24 demo questions * 0.25
    assert json.loads((folder / "results.json").read_text())["n"] == 6
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--limit", "1.5"])


def test_named_generators_take_the_checkpoints_max_new_tokens(harness_cache: Path) -> None:
    from reag_harness.core.plugin_manager import get_registry
    from reag_harness.interfaces import Runtime

    gen = get_registry().create("generator", "reag-7b", Runtime(), {"pretrained": "tiny:qwen2.5-vl"})
    model, _ = gen.model_and_processor()
    assert gen.max_new_tokens is None
    assert gen.default_max_new_tokens(model) == model.generation_config.max_new_tokens == 16


def test_identical_official_values_are_printed_once() -> None:
    rows = [("final_score", 40.0), ("unseen_entity.score", 38.0), ("unseen_question.score", 42.0),
            ("official.final_score", 40.0), ("official.unseen_entity_score.score", 38.0),
            ("official.unseen_question_score.score", 41.0)]
    folded = fold_official(rows)
    keys = [k for k, _, _ in folded]
    assert "official.final_score" not in keys and "official.unseen_entity_score.score" not in keys
    assert "official.unseen_question_score.score" in keys  # a differing official value stays
    notes = {k: n for k, _, n in folded}
    assert "official.final_score" in notes["final_score"]


def test_score_silences_tensorflows_start_up_chatter(tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("tensorflow_text")
    (tmp_path / "test.csv").write_text("question,answer,question_type,dataset_image_ids,wikipedia_url\n"
                                       "Where is this tower?,Paris,templated,a,u\n")
    (tmp_path / "preds.jsonl").write_text('{"data_id": "0", "prediction": "paris"}\n')
    out = subprocess.run([sys.executable, "-m", "reag_harness.cli", "score", "--task", "evqa", "--predictions",
                          str(tmp_path / "preds.jsonl"), "--references", str(tmp_path / "test.csv"), "--bem-model",
                          "tiny", "--output-dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stderr.strip() == "", out.stderr[-2000:]  # no oneDNN / cuda / absl lines unless -v
