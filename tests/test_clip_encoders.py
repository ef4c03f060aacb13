"""CLIP encoders: the tiny open_clip EVA checkpoint, CLIP-L/14 preprocessing, the remote-code backend."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from reag_harness.core.errors import HarnessError
from reag_harness.models import clip_encoders, clip_loader
from reag_harness.models.clip_encoders import clip_l14_preprocess, open_images
from reag_harness.models.clip_loader import load_encoder
from reag_harness.models.tiny.clip import TINY_MODEL, tiny_clip_checkpoint


def _images(n: int = 5) -> list[Image.Image]:
    rng = np.random.RandomState(0)
    sizes = [(64, 48), (37, 91), (300, 257), (225, 227), (500, 333), (23, 23)]
    return [Image.fromarray(rng.randint(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes[:n]]


@pytest.fixture(scope="module")
def tiny_encoder() -> clip_encoders.ClipEncoder:
    return load_encoder("open_clip", TINY_MODEL, str(tiny_clip_checkpoint()), batch_size=4)


def test_tiny_checkpoint_round_trip(tiny_encoder: clip_encoders.ClipEncoder) -> None:
    import open_clip
    from safetensors.torch import load_file

    ckpt = tiny_clip_checkpoint()
    assert ckpt.name == "open_clip_model.safetensors" and ckpt.parent.name == "open_clip_eva-v1"
    assert tiny_clip_checkpoint() == ckpt  # built once
    model, _, preprocess = open_clip.create_model_and_transforms(TINY_MODEL, pretrained=str(ckpt))
    saved = load_file(str(ckpt))
    state = model.state_dict()
    assert set(saved) == set(state)
    assert all(torch.equal(saved[k], state[k]) for k in saved)
    assert type(model.visual.trunk).__name__ == "Eva"  # an EVA-02 style timm trunk
    # The encoder is open_clip's model + preprocessing, L2-normalised.
    images = _images(3)
    with torch.no_grad():
        ref = model.encode_image(torch.stack([preprocess(im) for im in images]))
    ref = (ref / ref.norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(tiny_encoder.encode_images(images), ref, atol=1e-5)


def test_encoder_loaded_once_and_normalised(tiny_encoder: clip_encoders.ClipEncoder) -> None:
    n = clip_loader.loaded_encoders()
    again = load_encoder("open_clip", TINY_MODEL, str(tiny_clip_checkpoint()), batch_size=64)
    assert again is tiny_encoder and clip_loader.loaded_encoders() == n
    images = _images(6)
    emb = tiny_encoder.encode_images(images)
    assert emb.dtype == np.float32 and emb.shape == (6, tiny_encoder.dim) == (6, 32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tiny_encoder.encode_images(images, batch_size=1), emb, atol=1e-5)
    assert not np.allclose(emb[0], emb[1], atol=1e-3)
    txt = tiny_encoder.encode_texts(["Eiffel Tower", "Golden Gate Bridge", "a cat"], batch_size=2)
    assert txt.shape == (3, 32) and txt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1.0, atol=1e-5)
    assert tiny_encoder.encode_images([]).shape == (0, 32)
    ident = tiny_encoder.identity()
    assert ident["checkpoint"]["size"] == tiny_clip_checkpoint().stat().st_size and ident["checkpoint"]["stat_hash"]


@pytest.mark.parametrize("backend", ["pil", "torchvision"])
def test_clip_l14_preprocessing_equals_clip_image_processor(backend: str) -> None:
    from transformers import CLIPImageProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    cls = CLIPImageProcessorPil if backend == "pil" else CLIPImageProcessor
    # The parameters of openai/clip-vit-large-patch14's preprocessor_config.json, built offline.
    processor = cls(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, resample=3,
                    do_resize=True, do_center_crop=True, do_rescale=True, rescale_factor=1 / 255,
                    do_normalize=True, image_mean=list(clip_encoders.CLIP_MEAN), image_std=list(clip_encoders.CLIP_STD),
                    do_convert_rgb=True)
    images = _images(6) + [_images(1)[0].convert("L")]
    ours = clip_l14_preprocess(images, backend=backend)
    theirs = torch.as_tensor(np.asarray(processor(images=images, return_tensors="pt")["pixel_values"]))
    assert ours.shape == theirs.shape == (7, 3, 224, 224) and ours.dtype == torch.float32
    assert float((ours - theirs).abs().max()) < 1e-5


def test_transformers_backend_needs_explicit_trust_remote_code() -> None:
    with pytest.raises(HarnessError, match="trust_remote_code=true"):
        load_encoder("transformers", "BAAI/EVA-CLIP-8B")
    with pytest.raises(HarnessError, match="unknown encoder backend"):
        load_encoder("onnx", "x")


_CONFIG_PY = """
from transformers import PretrainedConfig

class TinyEvaConfig(PretrainedConfig):
    model_type = "reag_tiny_remote_eva"

    def __init__(self, embed_dim=16, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
"""
_MODELING_PY = """
import torch
from transformers import PreTrainedModel
from .configuration_tiny_eva import TinyEvaConfig

class TinyEvaModel(PreTrainedModel):
    config_class = TinyEvaConfig

    def __init__(self, config):
        super().__init__(config)
        self.patch = torch.nn.Conv2d(3, config.embed_dim, 32, 32)
        self.tok = torch.nn.Embedding(49408, config.embed_dim)
        self.post_init()

    def _init_weights(self, module):
        pass

    def encode_image(self, pixel_values):
        return self.patch(pixel_values).mean(dim=(2, 3))

    def encode_text(self, input_ids):
        return self.tok(input_ids).mean(dim=1)
"""


def test_transformers_backend_loads_remote_code_model(tmp_path) -> None:
    """The EVA-CLIP-8B code path (AutoModel + trust_remote_code + CLIP-L/14 pixels) on a tiny local model."""
    src = tmp_path / "tiny_remote_eva"
    src.mkdir()
    (src / "configuration_tiny_eva.py").write_text(textwrap.dedent(_CONFIG_PY))
    (src / "modeling_tiny_eva.py").write_text(textwrap.dedent(_MODELING_PY))
    auto_map = {"AutoConfig": "configuration_tiny_eva.TinyEvaConfig", "AutoModel": "modeling_tiny_eva.TinyEvaModel"}
    (src / "config.json").write_text(json.dumps({"model_type": "reag_tiny_remote_eva", "embed_dim": 16,
                                                 "auto_map": auto_map, "architectures": ["TinyEvaModel"]}))
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(0)
    model = AutoModel.from_config(AutoConfig.from_pretrained(src, trust_remote_code=True), trust_remote_code=True)
    model.save_pretrained(src)
    enc = load_encoder("transformers", str(src), trust_remote_code=True, batch_size=2)
    assert enc.dim == 16 and enc.identity()["preprocess"] == "clip-l14-pil-224"
    images = _images(3)
    with torch.no_grad():
        ref = model.encode_image(clip_l14_preprocess(images))
    ref = (ref / ref.norm(dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(enc.encode_images(images), ref, atol=1e-5)


def test_open_images_missing_file(tmp_path) -> None:
    from reag_harness.core.errors import InputError

    with pytest.raises(InputError, match="image file not found") as info:
        open_images([str(tmp_path / "nope.jpg")])
    assert info.value.field == "image"
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read image"):
        open_images([str(bad)])
