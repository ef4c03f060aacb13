"""FAISS indexes in the released layout (knn.index + knn.json) and ``reag-eval index build``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.data.retrieval import faiss_index
from reag_harness.data.retrieval.faiss_index import build_index, load_index, load_keys


def _vectors(n: int = 50, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.RandomState(seed).randn(n, d).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_build_load_mmap_search(tmp_path) -> None:
    import faiss

    x = _vectors()
    rows = [[f"https://en.wikipedia.org/wiki/P{i // 2}", f"img{i}.jpg"] for i in range(len(x))]  # 2 rows per page
    out = build_index(x, rows, tmp_path / "idx", meta={"source": "test"})
    assert json.loads((out / "knn.json").read_text())[3] == ["https://en.wikipedia.org/wiki/P1", "img3.jpg"]
    idx = load_index(out)
    assert idx.info["mmap"] is True and idx.info["type"] == "IndexFlatIP" and idx.info["gpu"] is False
    assert idx.info["metric"] == "inner_product" and idx.ntotal == 50 and idx.dim == 16
    assert idx.meta["source"] == "test" and idx.meta["factory"] == "Flat"
    assert faiss.cvar.distance_compute_blas_threshold == faiss_index.BLAS_THRESHOLD
    hits = idx.search(x[:5], 3)
    for i, h in enumerate(hits):
        assert h[0][0] == f"https://en.wikipedia.org/wiki/P{i // 2}" and h[0][1] == pytest.approx(1.0, abs=1e-5)
        assert [s for _, s in h] == sorted([s for _, s in h], reverse=True)
    assert load_index(out) is idx  # loaded once per process
    assert idx.identity() == faiss_index.index_identity(out)


def test_batched_search_equals_one_by_one(tmp_path) -> None:
    x = _vectors(200, 32, seed=1)
    idx = load_index(build_index(x, [f"k{i}" for i in range(200)], tmp_path / "idx"))
    queries = _vectors(40, 32, seed=2)
    batched = idx.search(queries, 7)
    single = [idx.search(q[None], 7)[0] for q in queries]
    for b, s in zip(batched, single, strict=True):
        assert [k for k, _ in b] == [k for k, _ in s]
        np.testing.assert_allclose([v for _, v in b], [v for _, v in s], atol=1e-5)
    assert idx.search(queries[:0], 7) == []
    assert len(idx.search(queries[:1], 1000)[0]) == 200  # k is capped at ntotal


def test_other_factories_and_keys_formats(tmp_path) -> None:
    x = _vectors(300, 16, seed=3)
    hnsw = load_index(build_index(x, [f"k{i}" for i in range(300)], tmp_path / "hnsw", factory="HNSW8,Flat"))
    assert hnsw.info["type"] == "IndexHNSWFlat" and "mmap" in hnsw.info
    assert hnsw.search(x[:1], 1)[0][0][0] == "k0"
    l2 = load_index(build_index(x, [f"k{i}" for i in range(300)], tmp_path / "l2", metric="l2"))
    assert l2.info["metric"] == "l2" and l2.search(x[7:8], 1)[0][0][0] == "k7"
    with pytest.raises(HarnessError, match="factory"):
        build_index(x, [f"k{i}" for i in range(300)], tmp_path / "bad", factory="Nonsense12")
    # knn.json elements may be bare strings too; the list is read once per process.
    (tmp_path / "keys.json").write_text(json.dumps([["a", 1], "b", ["c"]]))
    keys = load_keys(tmp_path / "keys.json")
    assert keys == ["a", "b", "c"] and load_keys(tmp_path / "keys.json") is keys
    (tmp_path / "bad.json").write_text(json.dumps([[1, 2]]))
    with pytest.raises(InputError, match="element 0"):
        load_keys(tmp_path / "bad.json")


def test_load_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="knn.index"):
        load_index(tmp_path)
    x = _vectors(10, 8)
    out = build_index(x, [f"k{i}" for i in range(10)], tmp_path / "idx")
    (out / "knn.json").write_text(json.dumps([[f"k{i}"] for i in range(9)]))
    with pytest.raises(InputError, match="9 rows"):
        load_index(out)
    good = load_index(build_index(x, [f"k{i}" for i in range(10)], tmp_path / "good"))
    with pytest.raises(HarnessError, match="dimension 8"):
        good.search(_vectors(2, 4), 1)


def test_index_build_command(tmp_path) -> None:
    """``reag-eval index build`` over a KB json with page images, with the tiny open_clip model."""
    from reag_harness.cli.app import main
    from reag_harness.models.tiny.clip import TINY_MODEL, tiny_clip_checkpoint

    root = tmp_path / "images"
    root.mkdir()
    kb = {}
    for p in range(4):
        names = []
        for j in range(2):
            Image.new("RGB", (40, 30 + j), (60 * p, 20 * j, 90)).save(root / f"p{p}_{j}.png")
            names.append(f"p{p}_{j}.png")
        kb[f"https://en.wikipedia.org/wiki/P{p}"] = {"title": f"Page {p}", "section_texts": [f"text {p}"],
                                                     "image_paths": names}
    kb_path = tmp_path / "kb.json"
    kb_path.write_text(json.dumps(kb))
    common = ["index", "build", "--kb", str(kb_path), "--encoder", "open_clip", "--model", TINY_MODEL,
              "--pretrained", str(tiny_clip_checkpoint()), "--batch-size", "3"]
    assert main([*common, "--source", "images", "--images-root", str(root), "--output", str(tmp_path / "img")]) == 0
    idx = load_index(tmp_path / "img")
    assert idx.ntotal == 8 and idx.keys[:2] == ["https://en.wikipedia.org/wiki/P0"] * 2
    assert json.loads((tmp_path / "img" / "knn.json").read_text())[1][1].endswith("p0_1.png")
    assert idx.meta["source"] == "images" and idx.meta["encoder"]["model"] == TINY_MODEL
    assert main([*common, "--source", "titles", "--output", str(tmp_path / "titles")]) == 0
    assert load_index(tmp_path / "titles").ntotal == 4
    # EVA-CLIP-8B not present offline: one clear error line, exit 2.
    assert main(["index", "build", "--kb", str(kb_path), "--output", str(tmp_path / "x")]) == 2
