"""The cross-encoder critic on a tiny random cross-encoder built offline: scores, on_batch, top_n selection."""

from __future__ import annotations

import json

import pytest

from reag_harness.core.errors import HarnessError
from reag_harness.core.plugin_manager import get_registry
from reag_harness.interfaces import Runtime
from reag_harness.pipeline.components import critic_active, selection_rule
from reag_harness.records import Judgement, Passage, Sample


@pytest.fixture(scope="module")
def tiny_ce(harness_cache):
    from reag_harness.models.tiny.cross_encoder import tiny_cross_encoder_path

    return str(tiny_cross_encoder_path())


def pairs():
    s = Sample("q1", "when was the tower in paris built?", None)
    texts = ["the tower was built in 1889.", "a red bird.", "the river of the city.", "the king and queen.",
             "designed by an architect in paris."]
    return [(s, Passage("https://kb/p", i, t)) for i, t in enumerate(texts)]


def test_scores_batches_and_selection(tiny_ce):
    critic = get_registry().create("critic", "cross-encoder", Runtime(), {"model": tiny_ce, "top_n": 2,
                                                                          "batch_size": 2})
    seen = []
    scores = critic.p_yes(pairs(), on_batch=lambda idx, values: seen.append((idx, values)))
    assert [idx for idx, _ in seen] == [[0, 1], [2, 3], [4]]  # one call per model batch, input indices
    assert [v for _, vs in seen for v in vs] == scores and all(0 < v < 1 for v in scores)
    assert len(set(round(v, 6) for v in scores)) > 1  # a real forward pass, not a constant
    # the same numbers as sentence-transformers itself gives (sigmoid of the one logit)
    import torch
    from sentence_transformers import CrossEncoder

    direct = CrossEncoder(tiny_ce).predict([(s.question, p.text) for s, p in pairs()],
                                          activation_fn=torch.nn.Sigmoid())
    assert scores == pytest.approx([float(x) for x in direct], abs=1e-5)
    assert selection_rule(critic) == (None, 2) and critic_active(critic)
    kept = Judgement("q1", tuple(scores)).kept(5, *selection_rule(critic))
    best = sorted(range(5), key=lambda i: -scores[i])[:2]
    assert kept == sorted(best)
    assert "top_n" in critic.identity()["args"] and critic.identity()["checkpoint"]["stat_hash"]
    with pytest.raises(HarnessError, match="top_n"):
        get_registry().create("critic", "cross-encoder", Runtime(), {"model": tiny_ce, "top_n": None})


def test_demo_run_keeps_top_n_and_a_top_n_sweep_reuses_the_scores(tiny_ce, tmp_path):
    from reag_harness.api import evaluate

    def run(top_n: int) -> dict:
        out = tmp_path / f"runs{top_n}"
        results = evaluate(task="demo", critic="cross-encoder", critic_args={"model": tiny_ce, "top_n": top_n},
                           generator="tiny-qwen2.5-vl", limit=2, output_dir=str(out), no_leaderboard=True,
                           quiet=True, cache_dir=str(tmp_path / "stages"))
        folder = next(out.iterdir())
        rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
        return {"results": results.to_json(), "rows": rows}

    first = run(2)
    for row in first["rows"]:
        assert sum(p["kept"] for p in row["passages"]) == min(2, len(row["passages"]))
        assert all(0 < p["p_yes"] < 1 for p in row["passages"])
    second = run(3)
    judge = next(t for t in second["results"]["timings"] if t["stage"] == "judge")
    assert judge["n_cached"] == 2 and judge["n_computed"] == 0
    assert all(sum(p["kept"] for p in r["passages"]) == min(3, len(r["passages"])) for r in second["rows"])
