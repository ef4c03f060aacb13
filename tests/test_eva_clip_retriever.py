"""The eva-clip retriever: merge rule, top_k semantics, batching, crop, the tiny end-to-end retriever."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.data.retrieval.faiss_index import build_index
from reag_harness.interfaces import KnowledgeBase, Runtime
from reag_harness.plugins.retrievers import eva_clip
from reag_harness.plugins.retrievers.eva_clip import EvaClipRetriever, merge_hits, tiny_eva_clip
from reag_harness.records import Retrieval, Sample


class TinyKB:
    """A minimal in-test knowledge base (the KnowledgeBase protocol only)."""

    def __init__(self, n: int) -> None:
        self._pages = {f"https://en.wikipedia.org/wiki/Page_{i}": (f"Page {i}", [f"p{i} s0", f"p{i} s1", f"p{i} s2"][
            : 1 + i % 3]) for i in range(n)}

    def __contains__(self, key: object) -> bool:
        return key in self._pages

    def __len__(self) -> int:
        return len(self._pages)

    def keys(self) -> list[str]:
        return list(self._pages)

    def title(self, key: str) -> str:
        return self._pages[key][0]

    def passages(self, key: str) -> list[str]:
        return list(self._pages[key][1])

    def fingerprint(self) -> str:
        return hashlib.sha256(repr(sorted(self._pages.items())).encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("query_images")
    rng = np.random.RandomState(0)
    paths = []
    for i in range(8):
        arr = np.zeros((40 + i, 56, 3), np.uint8)
        arr[:] = rng.randint(0, 256, 3)
        arr[: 20, : 28] = rng.randint(0, 256, 3)  # a second colour block (what a crop would isolate)
        path = root / f"q{i}.png"
        Image.fromarray(arr).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def kb() -> TinyKB:
    return TinyKB(12)


def _samples(images: list[str]) -> list[Sample]:
    return [Sample(id=f"s{i}", question=f"What is this building {i}?", image=p) for i, p in enumerate(images)]


@pytest.fixture(scope="module")
def image_index(tmp_path_factory, images, kb) -> str:
    """An EVQA-like image index: several rows per page (each query image plus perturbed copies)."""
    r = tiny_eva_clip(Runtime(), top_k=3)
    base = r.embed_images(images)
    rng = np.random.RandomState(1)
    keys = kb.keys()
    vecs, rows = [], []
    for i, v in enumerate(base):
        for j in range(3):  # three rows for the page of image i, one of them exact
            w = v + (0 if j == 0 else 0.05 * rng.randn(len(v)).astype(np.float32))
            vecs.append(w / np.linalg.norm(w))
            rows.append([keys[i % len(keys)], f"img{i}_{j}.jpg"])
    for k in range(8, 12):  # pages without their own query
        w = rng.randn(base.shape[1]).astype(np.float32)
        vecs.append(w / np.linalg.norm(w))
        rows.append([keys[k], f"other{k}.jpg"])
    out = tmp_path_factory.mktemp("image_index") / "evqa_like"
    build_index(np.stack(vecs), rows, out)
    return str(out)


def test_merge_hits_rule() -> None:
    full = [("a", 0.9), ("b", 0.8), ("a", 0.7), ("c", 0.5)]
    assert merge_hits(full) == [("a", 0.9), ("b", 0.8), ("c", 0.5)]  # de-dup keeps the best score
    crop = [("c", 0.95), ("d", 0.85), ("b", 0.1)]
    assert merge_hits(full, crop, top_k=3) == [("c", 0.95), ("a", 0.9), ("d", 0.85)]
    assert merge_hits(full, crop, top_k=10) == [("c", 0.95), ("a", 0.9), ("d", 0.85), ("b", 0.8)]
    assert merge_hits([("x", 0.5), ("y", 0.5)], [("z", 0.5)]) == [("x", 0.5), ("y", 0.5), ("z", 0.5)]  # ties: seen
    assert merge_hits([], [], top_k=5) == [] and merge_hits(full, top_k=0) == []


def test_top_k_counts_rows_and_dedups_pages(image_index, images, kb) -> None:
    r = tiny_eva_clip(Runtime(), index=image_index, top_k=4)
    out = r.retrieve(_samples(images), kb)
    assert len(out) == len(images) and all(isinstance(x, Retrieval) for x in out)
    for i, ret in enumerate(out):
        assert len(ret.raw_hits) == 4  # top_k index rows
        keys = [k for k, _ in ret.pages]
        assert len(keys) == len(set(keys)) <= 4  # unique pages, at most top_k
        assert ret.pages[0][0] == kb.keys()[i % 12] and ret.pages[0][1] == pytest.approx(1.0, abs=1e-4)
        assert [s for _, s in ret.pages] == sorted((s for _, s in ret.pages), reverse=True)
        assert dict(ret.pages) == {k: max(s for kk, s in ret.raw_hits if kk == k) for k in keys}
        assert ret.info["top_k_rows"] == 4 and ret.info["n_pages"] == len(keys)
        expect = [(k, j, t) for k in keys for j, t in enumerate(kb.passages(k))]
        assert [(p.page_key, p.index, p.text) for p in ret.passages] == expect
    assert any(len(ret.pages) < 4 for ret in out)  # several rows per page: fewer unique pages than top_k
    assert Retrieval.from_json(out[0].to_json()) == out[0]


def test_batched_equals_per_sample_and_cache(image_index, images, kb) -> None:
    r = tiny_eva_clip(Runtime(), index=image_index, top_k=5, batch_size=3)
    batched = r.retrieve(_samples(images), kb)
    calls = []
    enc = r.encoder()
    original = enc.encode_images
    enc.encode_images = lambda ims, bs=None: calls.append(len(ims)) or original(ims, bs)  # type: ignore[method-assign]
    try:
        single = [r.retrieve([s], kb)[0] for s in _samples(images)]
        assert calls == []  # every query embedding came from the in-memory cache
    finally:
        del enc.encode_images
    r2 = tiny_eva_clip(Runtime(), index=image_index, top_k=5, batch_size=1)
    fresh = [r2.retrieve([s], kb)[0] for s in _samples(images)]
    for b, s, f in zip(batched, single, fresh, strict=True):
        assert [k for k, _ in b.pages] == [k for k, _ in s.pages] == [k for k, _ in f.pages]
        np.testing.assert_allclose([v for _, v in b.pages], [v for _, v in f.pages], atol=1e-5)
        assert b.passages == f.passages
    # Same image under another sample id: same result, one embedding.
    dup = r.retrieve([Sample("x1", "q", images[0]), Sample("x2", "q", images[0])], kb)
    assert dup[0].pages == dup[1].pages


def test_missing_image_and_bad_args(image_index, images, kb, tmp_path) -> None:
    r = tiny_eva_clip(Runtime(), index=image_index, top_k=2)
    bad = Sample("s9", "q", str(tmp_path / "missing.jpg"))
    with pytest.raises(InputError, match="image file not found") as info:
        r.retrieve([*_samples(images[:2]), bad], kb)
    assert info.value.field == "image" and info.value.path.endswith("missing.jpg")
    with pytest.raises(InputError, match="no image"):
        r.retrieve([Sample("s10", "q", None)], kb)
    assert r.retrieve([], kb) == []
    # EVA-CLIP-8B through the hub's remote code needs explicit trust: a pre-flight problem, listed with every
    # other problem of the run
    assert any("trust_remote_code=true" in p
               for p in EvaClipRetriever(Runtime(), index=image_index, encoder="transformers").preflight())
    with pytest.raises(HarnessError, match="top_k"):
        tiny_eva_clip(Runtime(), top_k=0)
    with pytest.raises(HarnessError, match="fixed"):
        tiny_eva_clip(Runtime(), model="EVA02-L-14")


def _same_hits(a: Any, b: Any) -> None:
    """Equal keys and scores up to float noise (BLAS sums depend on the batch shape)."""
    assert [k for k, _ in a] == [k for k, _ in b]
    np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-5)


@dataclass
class Crop:
    image: Image.Image | None
    box: tuple[float, float, float, float] | None
    entity: str | None
    reason: str


class HalfCropper:
    """An in-test cropper: the top-left quarter for even samples, no crop for odd ones."""

    def crop(self, samples: list[Sample]) -> list[Crop]:
        out = []
        for i, s in enumerate(samples):
            if i % 2:
                out.append(Crop(None, None, None, "no entity found"))
                continue
            with Image.open(s.image) as im:
                box = (0.0, 0.0, im.width / 2, im.height / 2)
                out.append(Crop(im.convert("RGB").crop(tuple(int(b) for b in box)), box, "building", "detected"))
        return out

    def identity(self) -> dict[str, Any]:
        return {"name": "half-cropper"}


def test_crop_merges_full_and_crop_hits(image_index, images, kb) -> None:
    plain = tiny_eva_clip(Runtime(), index=image_index, top_k=4)
    r = tiny_eva_clip(Runtime(), index=image_index, top_k=4, crop=True, cropper=HalfCropper())
    assert r.identity()["cropper"] == {"name": "half-cropper"}
    samples = _samples(images)
    out = r.retrieve(samples, kb)
    base = plain.retrieve(samples, kb)
    index = r.index(kb)
    crops = HalfCropper().crop(samples)
    for i, (ret, ref) in enumerate(zip(out, base, strict=True)):
        crop_info = ret.info["crop"]
        _same_hits(ret.raw_hits, ref.raw_hits)  # raw_hits: the full image's rows
        if i % 2:
            assert crop_info["used"] is False and crop_info["reason"] == "no entity found"
            _same_hits(ret.pages, ref.pages)
        else:
            assert crop_info["used"] is True and crop_info["entity"] == "building" and len(crop_info["box"]) == 4
            crop_hits = index.search(r.encoder().encode_images([crops[i].image]), 4)[0]
            assert [k for k, _ in crop_info["hits"]] == [k for k, _ in crop_hits]
            expect = merge_hits(ref.raw_hits, [tuple(h) for h in crop_info["hits"]], 4)
            assert [k for k, _ in ret.pages] == [k for k, _ in expect] and len(ret.pages) <= 4


def test_tiny_retriever_end_to_end_with_title_index(images, kb) -> None:
    from reag_harness.core.plugin_manager import get_registry

    r = get_registry().create("retriever", "tiny-eva-clip", Runtime(), {"top_k": 5})
    assert r.name == "tiny-eva-clip"
    ident = r.identity()
    assert ident["index"]["builder"] == eva_clip.TITLE_INDEX_VERSION and ident["encoder"]["checkpoint"]["size"] > 0
    out = r.retrieve(_samples(images[:3]), kb)
    assert r.identity() == ident  # building the index on first use does not change the identity
    for ret in out:
        assert len(ret.pages) == 5 and len(ret.raw_hits) == 5 and all(k in kb for k, _ in ret.pages)
        assert ret.passages and ret.passages[0].page_key == ret.pages[0][0]
    index = r.index(kb)
    assert index.ntotal == len(kb) and index.meta["source"] == "titles"
    again = tiny_eva_clip(Runtime(), top_k=5).retrieve(_samples(images[:3]), kb)
    assert [x.pages for x in again] == [x.pages for x in out]
    assert isinstance(kb, KnowledgeBase)
