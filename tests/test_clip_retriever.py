"""The ``clip`` retriever over open_clip and transformers CLIP/SigLIP tiny checkpoints, with indexes from
``reag-eval index build`` (image -> image and image -> page text)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest
from PIL import Image, ImageDraw

from reag_harness.core.errors import HarnessError
from reag_harness.core.plugin_manager import get_registry
from reag_harness.data.index_build import build
from reag_harness.data.kb.memory import InMemoryKB
from reag_harness.interfaces import Runtime
from reag_harness.records import Sample

COLOURS = [(220, 30, 30), (30, 200, 40), (20, 40, 220), (240, 200, 20), (120, 30, 160)]


@pytest.fixture(scope="module")
def kb_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("clip_kb")
    pages = {}
    for i, colour in enumerate(COLOURS):
        img = Image.new("RGB", (48, 40), (250, 250, 250))
        ImageDraw.Draw(img).rectangle((4 + i, 6, 30 + 3 * i, 34), fill=colour)
        img.save(root / f"page{i}.png")
        pages[f"https://kb/Page_{i}"] = {"title": f"Page {i}", "section_texts": [f"Page {i} is thing number {i}."],
                                         "image_paths": [f"page{i}.png"], "summary": f"Thing number {i}, colour {i}"}
    (root / "kb.json").write_text(json.dumps(pages))
    return root


def encoders():
    from reag_harness.models.tiny.clip import TINY_MODEL, tiny_clip_checkpoint
    from reag_harness.models.tiny.hf_clip import tiny_hf_clip_path

    return {"open_clip": ("open_clip", TINY_MODEL, str(tiny_clip_checkpoint())),
            "hf-clip": ("hf", str(tiny_hf_clip_path("clip")), None),
            "hf-siglip": ("hf", str(tiny_hf_clip_path("siglip")), None)}


def build_args(kb_files, out, encoder, model, pretrained, source="images"):
    return argparse.Namespace(kb=str(kb_files / "kb.json"), source=source, images_root=str(kb_files),
                              image_field="image_paths", text_field="summary", encoder=encoder, model=model,
                              pretrained=pretrained, trust_remote_code=False, factory="Flat", metric="inner_product",
                              device="cpu", dtype=None, batch_size=4, limit=None, output=str(out))


@pytest.mark.parametrize("which", ["open_clip", "hf-clip", "hf-siglip"])
def test_image_to_image_and_image_to_text_indexes(kb_files, tmp_path, which):
    encoder, model, pretrained = encoders()[which]
    kb = InMemoryKB.from_json(str(kb_files / "kb.json"))
    done = build(build_args(kb_files, tmp_path / "img", encoder, model, pretrained))
    assert done["rows"] == 5 and json.loads((tmp_path / "img" / "knn.json").read_text())[2] == \
        ["https://kb/Page_2", str(kb_files / "page2.png")]
    args = {"encoder": encoder, "model": model, "pretrained": pretrained, "index": str(tmp_path / "img"), "top_k": 3}
    retriever = get_registry().create("retriever", "clip", Runtime(), args)
    samples = [Sample(f"q{i}", "what is this?", str(kb_files / f"page{i}.png")) for i in (2, 4)]
    got = retriever.retrieve(samples, kb)
    # the query image is the page's own image: its embedding is identical, so that page comes first
    assert [r.pages[0][0] for r in got] == ["https://kb/Page_2", "https://kb/Page_4"]
    assert got[0].pages[0][1] == pytest.approx(1.0, abs=1e-4) and got[0].passages[0].page_key == "https://kb/Page_2"
    assert [c.status for c in retriever.data_checks()] == ["ok"]
    ident = retriever.identity()
    assert ident["name"] == "clip" and ident["encoder"]["backend"] == encoder and ident["encoder"]["checkpoint"]
    # image -> text of the page: one row per page from the summaries, through the text tower
    done = build(build_args(kb_files, tmp_path / "txt", encoder, model, pretrained, source="summaries"))
    assert done["rows"] == 5
    text = get_registry().create("retriever", "clip", Runtime(), {**args, "index": str(tmp_path / "txt")})
    [r] = text.retrieve(samples[:1], kb)
    assert len(r.pages) == 3 and {k for k, _ in r.pages} <= set(kb.keys())


def test_index_build_cli_with_a_transformers_clip_and_a_dimension_mismatch(kb_files, tmp_path):
    encs = encoders()
    _, hf_model, _ = encs["hf-clip"]
    proc = subprocess.run([sys.executable, "-m", "reag_harness.cli", "index", "build", "--kb",
                           str(kb_files / "kb.json"), "--source", "titles", "--encoder", "hf", "--model", hf_model,
                           "--output", str(tmp_path / "titles")], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "titles" / "knn.meta.json").read_text())
    assert meta["dim"] == 24 and meta["encoder"]["backend"] == "hf"
    # an index built with another encoder (dim 24) queried with the tiny open_clip model (dim 32)
    encoder, model, pretrained = encs["open_clip"]
    wrong = get_registry().create("retriever", "clip", Runtime(), {"encoder": encoder, "model": model,
                                                                   "pretrained": pretrained,
                                                                   "index": str(tmp_path / "titles")})
    [row] = wrong.data_checks()
    assert row.status == "fail" and "dimension 24 but the encoder" in row.detail and "gives 32" in row.detail
    assert wrong.preflight() and "dimension" in wrong.preflight()[0]
    with pytest.raises(HarnessError, match="model="):
        get_registry().create("retriever", "clip", Runtime(), {})
