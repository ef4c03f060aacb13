"""EVA-CLIP-8B under transformers 5: the native implementation and the remote-code path, on a tiny checkpoint
with the 8B's architecture in the hub layout (``pytorch_model.bin`` without ``position_ids``, safetensors,
sharded), whose remote code has both pathologies of the published code (a non-persistent ``position_ids``
buffer made in ``__init__``; an ``_init_weights`` writing through ``.data``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reag_harness.models import clip_backends, clip_encoders, clip_loader
from reag_harness.models.strict_load import WeightsMismatchError
from reag_harness.models.tiny.eva_clip_8b import FORMATS, tiny_eva_clip_8b_path

TEXTS = ["the eiffel tower", "a red bird on a branch", "x"]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in ((240, 300), (500, 230))]


def direct_build(folder: Path) -> torch.nn.Module:
    """The model built directly from the checkpoint's remote code (no from_pretrained), weights loaded strictly."""
    from transformers import AutoConfig
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    from reag_harness.models.eva_clip_native import read_state_dict

    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    model = get_class_from_dynamic_module(config.auto_map["AutoModel"], str(folder))(config)
    model.load_state_dict(read_state_dict(folder), strict=True)
    return model.eval()


def reference_features(folder: Path, images: list[Image.Image],
                       dtype: torch.dtype = torch.float32) -> tuple[np.ndarray, np.ndarray]:
    """Image and text features of the direct build with the reference's preprocessing (CLIP-L/14, PIL)."""
    model = direct_build(folder).to(dtype)
    pixels = clip_encoders.clip_l14_preprocess(images, 224, 224, "pil").to(dtype)
    ids = clip_backends.load_clip_tokenizer(str(folder))(TEXTS, return_tensors="pt", padding=True, truncation=True,
                                                 max_length=77)["input_ids"]
    with torch.no_grad():
        return (clip_encoders._l2(model.encode_image(pixels)), clip_encoders._l2(model.encode_text(ids)))


def encoder(backend: str, folder: Path, dtype: str = "float32") -> clip_encoders.ClipEncoder:
    clip_loader._ENCODERS.clear()
    return clip_loader.load_encoder(backend, "BAAI/EVA-CLIP-8B", str(folder), "cpu", dtype, 4,
                                      trust_remote_code=backend == "transformers")


@pytest.mark.parametrize("fmt", FORMATS)
def test_native_equals_direct_build(fmt, images) -> None:
    """fp32: the issue asks for <= 1e-5; the native code keeps the published operation order, so it is exact."""
    folder = tiny_eva_clip_8b_path(fmt)
    ref_img, ref_txt = reference_features(folder, images)
    enc = encoder("native", folder)
    assert enc.dim == 24
    np.testing.assert_array_equal(enc.encode_images(images), ref_img)
    np.testing.assert_array_equal(enc.encode_texts(TEXTS), ref_txt)


@pytest.mark.parametrize("backend", ["native", "transformers"])
def test_half_precision_equals_direct_build(backend, images) -> None:
    folder = tiny_eva_clip_8b_path("bin")
    ref_img, ref_txt = reference_features(folder, images, torch.bfloat16)
    enc = encoder(backend, folder, "bfloat16")
    np.testing.assert_array_equal(enc.encode_images(images), ref_img)
    np.testing.assert_array_equal(enc.encode_texts(TEXTS), ref_txt)


@pytest.mark.parametrize("fmt", ["bin", "sharded-safetensors"])
def test_remote_code_path_equals_direct_build_exactly(fmt, images) -> None:
    """Regression: the old loader failed here (IndexError on the first encode; text embeddings overwritten)."""
    folder = tiny_eva_clip_8b_path(fmt)
    ref_img, ref_txt = reference_features(folder, images)
    enc = encoder("transformers", folder)
    assert np.array_equal(enc.encode_images(images), ref_img)
    assert np.array_equal(enc.encode_texts(TEXTS), ref_txt)
    state = torch.load(folder / "pytorch_model.bin") if fmt == "bin" else None
    if state is not None:  # the loaded weights are the checkpoint's, none re-initialised
        for key, value in enc.model.state_dict().items():
            assert torch.equal(value, state[key]), key


def test_plain_from_pretrained_shows_both_pathologies() -> None:
    """What the old loader did (``AutoModel.from_pretrained(..., trust_remote_code=True)``): the published code's
    buffers come back uninitialised and its ``_init_weights`` overwrites the loaded text embeddings."""
    from transformers import AutoModel

    folder = tiny_eva_clip_8b_path("bin")
    state = torch.load(folder / "pytorch_model.bin")
    model = AutoModel.from_pretrained(str(folder), trust_remote_code=True, dtype=torch.float32).eval()
    emb = model.text_model.embeddings
    assert not torch.equal(emb.token_embedding.weight, state["text_model.embeddings.token_embedding.weight"])
    from reag_harness.models.eva_clip_remote import rebuild_buffers

    poisoned = model.vision_model.embeddings.position_ids.clone()  # uninitialised memory (IndexError, or worse)
    assert not torch.equal(poisoned[0], torch.arange(poisoned.shape[-1]))
    rebuild_buffers(model, str(folder))
    assert torch.equal(model.vision_model.embeddings.position_ids[0], torch.arange(poisoned.shape[-1]))


def test_device_map_only_with_accelerate(monkeypatch) -> None:
    from reag_harness.models import eva_clip_remote

    monkeypatch.setattr(eva_clip_remote, "accelerate_available", lambda: False)
    assert "device_map" not in eva_clip_remote.load_kwargs("cuda", torch.float16)
    monkeypatch.setattr(eva_clip_remote, "accelerate_available", lambda: True)
    assert eva_clip_remote.load_kwargs("cuda:1", torch.float16)["device_map"] == "cuda:1"
    assert "device_map" not in eva_clip_remote.load_kwargs("cpu", torch.float32)


def _edited_copy(tmp_path: Path, edit) -> Path:
    src = tiny_eva_clip_8b_path("bin")
    dst = tmp_path / "eva"
    shutil.copytree(src, dst)
    state = torch.load(dst / "pytorch_model.bin")
    edit(state)
    torch.save(state, dst / "pytorch_model.bin")
    return dst


REMOVED = "vision_model.encoder.layers.1.mlp.fc2.weight"
RENAMED = "text_model.final_layer_norm.bias"


@pytest.mark.parametrize("backend", ["native", "transformers"])
def test_removed_or_renamed_weight_is_an_error_naming_it(backend, tmp_path) -> None:
    folder = _edited_copy(tmp_path / "removed", lambda s: s.pop(REMOVED))
    with pytest.raises(WeightsMismatchError, match=REMOVED.replace(".", r"\.")) as err:
        encoder(backend, folder)
    assert err.value.missing == [REMOVED]
    folder = _edited_copy(tmp_path / "renamed", lambda s: s.__setitem__(RENAMED + "_x", s.pop(RENAMED)))
    with pytest.raises(WeightsMismatchError) as err:
        encoder(backend, folder)
    assert err.value.missing == [RENAMED] and err.value.unexpected == [RENAMED + "_x"]
    folder = _edited_copy(tmp_path / "shape", lambda s: s.__setitem__(REMOVED, s[REMOVED][:, :-1].clone()))
    with pytest.raises(WeightsMismatchError, match="fc2"):
        encoder(backend, folder)


def test_pre_flight_check_names_keys_without_loading(tmp_path) -> None:
    from reag_harness.models.eva_clip_native import check_checkpoint

    for fmt in FORMATS:
        check_checkpoint(tiny_eva_clip_8b_path(fmt))
    folder = _edited_copy(tmp_path, lambda s: s.pop(REMOVED))
    with pytest.raises(WeightsMismatchError) as err:
        check_checkpoint(folder)
    assert err.value.missing == [REMOVED]


@pytest.mark.parametrize("backend", ["native", "transformers"])
def test_a_logit_scale_in_the_checkpoint_is_ignored_as_by_the_published_code(backend, tmp_path, images) -> None:
    folder = _edited_copy(tmp_path, lambda s: s.__setitem__("logit_scale", torch.tensor(4.6)))
    np.testing.assert_array_equal(encoder(backend, folder).encode_images(images),
                                  encoder(backend, tiny_eva_clip_8b_path("bin")).encode_images(images))


def test_native_accepts_old_position_ids_and_refuses_wrong_ones(tmp_path, images) -> None:
    key = "text_model.embeddings.position_ids"
    folder = _edited_copy(tmp_path / "ok", lambda s: s.__setitem__(key, torch.arange(77)[None]))
    np.testing.assert_allclose(encoder("native", folder).encode_images(images),
                               encoder("native", tiny_eva_clip_8b_path("bin")).encode_images(images), atol=0)
    folder = _edited_copy(tmp_path / "bad", lambda s: s.__setitem__(key, torch.zeros(1, 77, dtype=torch.long)))
    with pytest.raises(WeightsMismatchError, match="position_ids"):
        encoder("native", folder)


def test_hub_layout_of_the_tiny_checkpoint() -> None:
    folder = tiny_eva_clip_8b_path("bin")
    cfg = json.loads((folder / "config.json").read_text())
    vision = cfg["vision_config"]
    assert vision["use_rms_norm"] and not (vision["q_bias"] or vision["k_bias"] or vision["v_bias"])
    assert (vision["patch_size"], vision["image_size"]) == (14, 224)
    state = torch.load(folder / "pytorch_model.bin")
    assert not any("position_ids" in k for k in state)
    from reag_harness.models.eva_clip_native import is_eva_clip_checkpoint

    assert is_eva_clip_checkpoint(folder)


@pytest.mark.parametrize("extra", [["encoder=native", "pretrained=tiny:eva-clip-8b"],
                                   ["encoder=transformers", "trust_remote_code=true", "pretrained=FOLDER"]],
                         ids=["native", "remote-code"])
def test_demo_run_with_eva_clip_on_the_tiny_8b(extra, tmp_path, capsys) -> None:
    """The demo task's stand-in encoder (open_clip) is replaced by the tiny 8B through either path."""
    from reag_harness.cli.app import main

    folder = tiny_eva_clip_8b_path("bin")
    out = tmp_path / "runs"
    args = ",".join(["model=BAAI/EVA-CLIP-8B", "index=titles", "top_k=3", *extra]).replace("FOLDER", str(folder))
    code = main(["--task", "demo", "--limit", "2", "--retriever", "eva-clip", "--retriever-args", args,
                 "--output-dir", str(out), "--cache-dir", str(tmp_path / "stages"), "--no-leaderboard", "--quiet"])
    assert code == 0, capsys.readouterr().err[-2000:]
    [run] = out.iterdir()
    results = json.loads((run / "results.json").read_text())
    retriever = results["config"]["resolved"]["retriever"]
    assert retriever["name"] == "eva-clip"
    assert retriever["args"]["encoder"] == extra[0].split("=")[1]
    assert retriever["args"]["pretrained"] in ("tiny:eva-clip-8b", str(folder))
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["passages"] for r in rows)


def test_index_build_defaults_to_the_native_encoder(tmp_path) -> None:
    from reag_harness.cli.app import main
    from reag_harness.data.retrieval.faiss_index import load_index

    kb = {f"https://en.wikipedia.org/wiki/P{i}": {"title": f"Page {i}", "section_texts": ["x"]} for i in range(3)}
    (tmp_path / "kb.json").write_text(json.dumps(kb))
    out = tmp_path / "idx"
    assert main(["index", "build", "--kb", str(tmp_path / "kb.json"), "--source", "titles", "--pretrained",
                 "tiny:eva-clip-8b", "--output", str(out), "--quiet"]) == 0
    index = load_index(out)
    assert index.ntotal == 3 and index.meta["encoder"]["backend"] == "native"
