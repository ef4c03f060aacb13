"""``max_prompt_tokens=auto`` comes from the model's own context length, not a fixed 16,384."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from plugins.generators.hf_llm import HFLLMGenerator
from reag_harness.api import evaluate
from reag_harness.core.errors import HarnessError
from reag_harness.data.retrieval.faiss_index import build_index
from reag_harness.interfaces import Runtime
from reag_harness.models.hf_prompts import check_prompt_lengths
from reag_harness.models.tiny.vlms import tiny_checkpoint
from tests.kbdata import synth


def test_auto_is_the_context_minus_max_new_tokens(tmp_path: Path) -> None:
    assert json.loads((tiny_checkpoint("llama") / "config.json").read_text())["max_position_embeddings"] == 4096
    # generation_config.json of tiny:llama says max_new_tokens=16
    assert HFLLMGenerator(Runtime(), pretrained="tiny:llama").max_prompt_tokens == 4096 - 16
    assert HFLLMGenerator(Runtime(), pretrained="tiny:llama", max_new_tokens=96).max_prompt_tokens == 4096 - 96
    assert HFLLMGenerator(Runtime(), pretrained="tiny:llama", max_prompt_tokens=1000).max_prompt_tokens == 1000
    assert HFLLMGenerator(Runtime(), pretrained="tiny:llama", max_prompt_tokens="none").max_prompt_tokens is None
    long_ctx = tmp_path / "long"
    shutil.copytree(tiny_checkpoint("llama"), long_ctx)
    config = json.loads((long_ctx / "config.json").read_text())
    (long_ctx / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 131072}))
    (long_ctx / "generation_config.json").unlink()  # max_new_tokens: the default 4096
    assert HFLLMGenerator(Runtime(), pretrained=str(long_ctx)).max_prompt_tokens == 16384  # model_max_length cap
    assert HFLLMGenerator(Runtime(), pretrained=str(long_ctx),
                          model_max_length=200000).max_prompt_tokens == 131072 - 4096


def test_too_long_error_names_the_two_arguments() -> None:
    class Model:
        class config:  # noqa: N801 - mimics a transformers config
            @staticmethod
            def get_text_config():
                return type("C", (), {"max_position_embeddings": 4096})

    with pytest.raises(HarnessError) as err:
        check_prompt_lengths(Model(), [15863])
    assert "max_prompt_tokens" in str(err.value) and "prompt_policy" in str(err.value)


def test_llama_text_preset_on_a_4096_position_model_runs_as_is(tmp_path: Path) -> None:
    from reag_harness.models.clip_loader import encoder_dim
    from reag_harness.models.tiny.eva_clip_8b import tiny_eva_clip_8b_path

    eva = tiny_eva_clip_8b_path()
    dim = encoder_dim("native", "BAAI/EVA-CLIP-8B", str(eva))
    mk = synth()
    mk.write_kb(tmp_path / "kb.json", 12, "infoseek", seed=3)
    data = mk.write_infoseek_queries(tmp_path / "q", 2, 12, seed=3)
    keys = list(json.loads((tmp_path / "kb.json").read_text()))
    build_index(np.random.default_rng(0).standard_normal((len(keys), dim)).astype(np.float32), keys, tmp_path / "idx")
    # the preset's own retriever (eva-clip, its native EVA-CLIP-8B encoder); only EVA-CLIP-8B's checkpoint
    # and its index are swapped for tiny ones, and the generator for a 4096-position tiny Llama
    results = evaluate(preset="llama-3.1-8b-text-eva-clip", task="infoseek",
                       task_args={"kb": str(tmp_path / "kb.json"), "queries": str(data["queries"]),
                                  "images": str(data["images"]), "qtypes": str(data["qtypes"])},
                       retriever_args={"pretrained": str(eva),
                                       "index": str(tmp_path / "idx")},
                       generator_args={"pretrained": "tiny:llama"}, quiet=True, no_leaderboard=True,
                       output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"))
    assert results.components["retriever"].name == "eva-clip"
    report = results.prompts["generate"]
    assert report["max_prompt_tokens"] == 4096 - 16 and report["policy"] == "truncate"
    assert results.errors["count"] == 0, results.errors
    assert report["max"] <= 4096 - 16
    assert report["truncated_samples"] >= 1  # the passages did not fit: the last ones were dropped, no abort
