"""The general selection pieces (fallback none / top1 / seeded random, score fusion), the retrieval gate's
record, and EchoSight's Q-Former reranker: reranker.pth in LAVIS names loaded strictly into transformers'
BLIP-2 classes, and the echosight preset end to end on tiny checkpoints."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from reag_harness.core.selection import select
from reag_harness.records import Judgement, Passage, Retrieval

torch = pytest.importorskip("torch")


def retrieval(n: int = 4) -> Retrieval:
    passages = tuple(Passage(f"page{i % 2}", i, f"text {i}") for i in range(n))
    return Retrieval("s1", pages=(("page0", 0.9), ("page1", 0.1)), passages=passages)


def critic(**kw):
    return SimpleNamespace(**{"threshold": None, "top_n": None, "fusion": None, "fallback": "none", **kw})


def test_fallbacks_when_the_critic_keeps_nothing():
    r, j = retrieval(), Judgement("s1", (0.1, 0.3, 0.2, 0.05))
    assert select(r, j, critic(threshold=0.5), seed=1).kept == []  # none: the prompt's all-filtered form
    top1 = select(r, j, critic(threshold=0.5, fallback="top1"), seed=1)
    assert top1.kept == [1] and top1.fallback == "top1"
    draws = {select(r, j, critic(threshold=0.5, fallback="random"), seed=s).kept[0] for s in range(40)}
    assert len(draws) > 1  # the seed matters
    again = [select(r, j, critic(threshold=0.5, fallback="random"), seed=7) for _ in range(3)]
    assert len({tuple(a.kept) for a in again}) == 1 and again[0].to_json() == {"fallback": "random",
                                                                               "fallback_seed": 7}
    assert select(r, j, critic(threshold=0.0, fallback="random"), seed=7).fallback is None  # kept something


def test_fusion_ranks_by_the_weighted_retrieval_and_critic_scores():
    r = retrieval()
    j = Judgement("s1", (0.2, 0.6, 0.3, 0.5))  # the critic alone prefers passage 1 (page1, retrieval 0.1)
    assert select(r, j, critic(top_n=1), seed=0).kept == [1]
    fused = select(r, j, critic(top_n=1, fusion=0.5), seed=0)
    assert fused.kept == [2]  # 0.5*0.9 + 0.5*0.3 = 0.60 beats 0.5*0.1 + 0.5*0.6 = 0.35
    assert fused.fused == pytest.approx([0.55, 0.35, 0.6, 0.3])


@pytest.fixture(scope="module")
def tiny_reranker():
    from reag_harness.models.tiny.vlms import tiny_checkpoint

    return tiny_checkpoint("blip2-reranker")


def test_reranker_pth_in_lavis_names_loads_strictly(tiny_reranker, tmp_path):
    from transformers import Blip2ForImageTextRetrieval

    from reag_harness.core.errors import HarnessError
    from reag_harness.models.qformer_reranker import load_reranker
    from reag_harness.models.tiny.blip2_reranker import write_lavis_checkpoint

    base = Blip2ForImageTextRetrieval.from_pretrained(tiny_reranker)
    pth = tmp_path / "reranker.pth"
    state = write_lavis_checkpoint(base, pth, shift=0.25)
    assert "Qformer.bert.encoder.layer.0.attention.self.query.weight" in state and "vision_proj.weight" in state
    assert "Qformer.bert.encoder.layer.0.crossattention.self.key.weight" in state
    model, _, _ = load_reranker(str(tiny_reranker), str(pth), "cpu", "float32")
    loaded = model.state_dict()
    for name, value in base.state_dict().items():
        if name.startswith("vision_model.") or name.endswith("position_ids"):
            torch.testing.assert_close(loaded[name], value)  # not in reranker.pth: the base weights
        else:
            torch.testing.assert_close(loaded[name], value + 0.25)  # every Q-Former weight came from the .pth
    torch.save({**state, "Qformer.bert.encoder.layer.0.attention.self.rotary.weight": torch.zeros(1)}, pth)
    with pytest.raises(HarnessError, match="rotary"):
        load_reranker(str(tiny_reranker), str(pth), "cpu", "float32")


def test_echosight_preset_keeps_the_top_fused_section_and_records_sampling(tmp_path, capsys):
    from reag_harness.cli.app import main

    out = tmp_path / "runs"
    code = main(["--task", "demo", "--preset", "echosight", "--generator-args", "pretrained=tiny:llama",
                 "--critic-args", "pretrained=tiny:blip2-reranker", "--limit", "2", "--output-dir", str(out),
                 "--cache-dir", str(tmp_path / "stages"), "--no-leaderboard", "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    [folder] = out.iterdir()
    rows = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    results = json.loads((folder / "results.json").read_text())
    for r in rows:
        fused = r["selection"]["fused_scores"]
        kept = [i for i, p in enumerate(r["passages"]) if p["kept"]]
        assert len(kept) == 1 and fused[kept[0]] == max(fused)
        pages = dict((k, s) for k, s in r["retrieved_pages"])
        p = r["passages"][kept[0]]
        assert fused[kept[0]] == pytest.approx(0.5 * pages[p["page_key"]] + 0.5 * p["p_yes"], abs=1e-5)
    assert results["runtime_facts"]["decoding"] == {"do_sample": True, "temperature": 0.6, "top_p": 0.9,
                                                    "seed": 1234, "source": "generator arguments"}
    assert results["config"]["resolved"]["prompt_style"]["name"] == "echosight"


def test_page_images_put_each_kept_page_image_after_the_query_image(tmp_path):
    from reag_harness.core.errors import HarnessError
    from reag_harness.interfaces import Runtime
    from reag_harness.plugins.prompt_styles.direct import Direct
    from reag_harness.records import Sample

    (tmp_path / "a.png").write_bytes(b"")
    mapping = tmp_path / "pages.json"
    mapping.write_text(json.dumps({"page0": "a.png", "page1": str(tmp_path / "b.png")}))
    style = Direct(Runtime(), page_images=str(mapping))
    passages = [Passage("page1", 0, "x"), Passage("page0", 1, "y"), Passage("page1", 2, "z"), Passage("p9", 0, "w")]
    request = style.build(Sample("s", "Which?", "/q.png"), passages, "evqa")
    images = [i["image"] for i in request.messages[0]["content"] if i["type"] == "image"]
    assert images == ["/q.png", str(tmp_path / "b.png"), str(tmp_path / "a.png")]
    assert style.identity()["args"]["page_images"] == str(mapping)
    assert "page_images" not in Direct(Runtime()).identity()["args"]  # unchanged cache keys without it
    assert [i["type"] for i in style.build(Sample("s", "Which?", "/q.png"), None, "evqa").messages[0]["content"]] \
        == ["image", "text"]
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(HarnessError, match="bad.json"):
        Direct(Runtime(), page_images=str(tmp_path / "bad.json")).build(Sample("s", "q", None), passages, "evqa")
