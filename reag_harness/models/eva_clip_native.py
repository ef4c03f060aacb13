"""EVA-CLIP-8B in the project: vision and text towers written from the published architecture, loading the
hub checkpoint (``BAAI/EVA-CLIP-8B``: ``config.json`` + ``pytorch_model.bin`` / ``model.safetensors``, sharded
or not) strictly, with no remote code.

The architecture is that of the hub's ``modeling_evaclip.py`` (a CLIP-style dual encoder):

- vision: conv patch embedding (with bias) + class token + learned positions, no pre-norm; encoder layers
  ``x + attn(norm1(x))``, ``x + fc2(act(fc1(norm2(x))))`` (post-norm when ``post_layernorm``); the class token
  through ``post_layernorm``, then ``visual_projection`` (no bias). EVA-CLIP-8B: RMSNorm, no q/k/v bias.
- text: token + learned positions, the same layers with a causal mask, ``final_layer_norm`` (LayerNorm unless
  ``use_rms_norm``), the feature at the highest token id (CLIP's end of text), ``text_projection``.
- attention scales the queries by ``head_dim ** -0.5`` and runs in the published operation order; RMSNorm
  computes its statistic in float32 and casts back to the weight's half dtype, as the published ``RMSNorm``.
  On the same device and dtype the features equal the published code's bit for bit (fp32, fp16, bf16 checked).

Missing defaults come from the published config classes (:data:`TEXT_DEFAULTS`, :data:`VISION_DEFAULTS`).
Keys are checked exactly (:mod:`reag_harness.models.strict_load`); the only checkpoint keys the model does
not hold are ``position_ids`` buffers written by old transformers versions (verified to be ``arange``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from reag_harness.core.errors import HarnessError
from reag_harness.models.clip_backends import TransformersClipEncoder
from reag_harness.models.strict_load import WeightsMismatchError, check_keys

TEXT_DEFAULTS: dict[str, Any] = dict(
    vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
    max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5, q_bias=True, k_bias=True, v_bias=True,
    post_layernorm=False, use_rms_norm=False)
VISION_DEFAULTS: dict[str, Any] = dict(
    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, num_channels=3,
    image_size=224, patch_size=32, hidden_act="gelu", layer_norm_eps=1e-5, q_bias=True, k_bias=True, v_bias=True,
    post_layernorm=False, use_rms_norm=True)
PROJECTION_DEFAULT = 512
#: checkpoint keys the model does not hold: persistent ``position_ids`` of old transformers versions (verified
#: to be ``0..n-1``), and ``logit_scale``, which the published model does not hold either (it fixes 100; the
#: features do not use it), so a checkpoint carrying one loads as it does with the published code
IGNORED_KEYS = (r"(text|vision)_model\.embeddings\.position_ids", r"logit_scale")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def is_eva_clip_checkpoint(source: str | Path | None) -> bool:
    """True for a local folder whose ``config.json`` is the published EVA-CLIP one (``EvaCLIPModel``)."""
    if not source:
        return False
    config = Path(source).expanduser() / "config.json"
    try:
        cfg = json.loads(config.read_text())
    except (OSError, ValueError):
        return False
    auto = str((cfg.get("auto_map") or {}).get("AutoModel", ""))
    return auto.endswith(".EvaCLIPModel") or "EvaCLIPModel" in (cfg.get("architectures") or [])


def tower_config(cfg: dict[str, Any], tower: str) -> dict[str, Any]:
    """A tower's settings: the published class defaults updated with ``config.json``'s ``<tower>_config``."""
    defaults = TEXT_DEFAULTS if tower == "text" else VISION_DEFAULTS
    given = cfg.get(f"{tower}_config") or {}
    out = {k: given.get(k, v) for k, v in defaults.items()}
    out["post_layernorm"] = bool(out["post_layernorm"])  # the published layer treats None as False
    return out


class RMSNorm(nn.Module):
    """T5-style RMSNorm: statistic in float32, cast back to a half weight's dtype (as published)."""

    def __init__(self, size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            x = x.to(self.weight.dtype)
        return self.weight * x


def _norm(c: dict[str, Any]) -> nn.Module:
    size, eps = c["hidden_size"], c["layer_norm_eps"]
    return RMSNorm(size, eps) if c["use_rms_norm"] else nn.LayerNorm(size, eps=eps)


class Attention(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        d, self.heads = c["hidden_size"], c["num_attention_heads"]
        if d % self.heads:
            raise HarnessError(f"EVA-CLIP config: hidden_size {d} is not divisible by num_attention_heads {self.heads}")
        self.scale = (d // self.heads) ** -0.5
        self.q_proj = nn.Linear(d, d, bias=bool(c["q_bias"]))
        self.k_proj = nn.Linear(d, d, bias=bool(c["k_bias"]))
        self.v_proj = nn.Linear(d, d, bias=bool(c["v_bias"]))
        self.out_proj = nn.Linear(d, d, bias=True)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        """The published operation order (scaled queries, ``bmm``, additive ``finfo.min`` causal mask, softmax
        in the input dtype), so that half-precision features match the published code bit for bit."""
        b, n, d = x.shape
        h, hd = self.heads, d // self.heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, h, hd).transpose(1, 2).contiguous().view(b * h, n, hd)

        weights = torch.bmm(heads(self.q_proj(x) * self.scale), heads(self.k_proj(x)).transpose(1, 2))
        if causal:
            mask = torch.full((b, n, n), torch.finfo(x.dtype).min, dtype=x.dtype).triu_(1).unsqueeze(1)
            weights = (weights.view(b, h, n, n) + mask.to(x.device)).view(b * h, n, n)
        out = torch.bmm(F.softmax(weights, dim=-1), heads(self.v_proj(x)))
        return self.out_proj(out.view(b, h, n, hd).transpose(1, 2).reshape(b, n, d))


class MLP(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        from transformers.activations import ACT2FN  # the published code's activation table

        self.act = ACT2FN[c["hidden_act"]]
        self.fc1 = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.fc2 = nn.Linear(c["intermediate_size"], c["hidden_size"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Layer(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        self.post = c["post_layernorm"]
        self.self_attn, self.mlp = Attention(c), MLP(c)
        self.layer_norm1, self.layer_norm2 = _norm(c), _norm(c)

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        if self.post:
            x = x + self.layer_norm1(self.self_attn(x, causal))
            return x + self.layer_norm2(self.mlp(x))
        x = x + self.self_attn(self.layer_norm1(x), causal)
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, causal)
        return x


class VisionEmbeddings(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        d, p = c["hidden_size"], c["patch_size"]
        self.class_embedding = nn.Parameter(torch.zeros(d))
        self.patch_embedding = nn.Conv2d(c["num_channels"], d, kernel_size=p, stride=p, bias=True)
        self.position_embedding = nn.Embedding((c["image_size"] // p) ** 2 + 1, d)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(pixels.shape[0], 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding.weight[None]


class TextEmbeddings(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(ids) + self.position_embedding.weight[None, : ids.shape[-1]]


class VisionTower(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        self.embeddings, self.encoder, self.post_layernorm = VisionEmbeddings(c), Encoder(c), _norm(c)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.post_layernorm(self.encoder(self.embeddings(pixels), causal=False)[:, 0])


class TextTower(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        super().__init__()
        self.embeddings, self.encoder, self.final_layer_norm = TextEmbeddings(c), Encoder(c), _norm(c)
        self.max_positions = c["max_position_embeddings"]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[-1] > self.max_positions:
            raise HarnessError(f"EVA-CLIP text: {ids.shape[-1]} tokens, the model has {self.max_positions} positions")
        hidden = self.final_layer_norm(self.encoder(self.embeddings(ids), causal=True))
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), ids.to(torch.int).argmax(dim=-1)]


class EvaClipModel(nn.Module):
    """The dual encoder; ``encode_image(pixels)`` / ``encode_text(input_ids)`` give the projected features."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.text_cfg, self.vision_cfg = tower_config(cfg, "text"), tower_config(cfg, "vision")
        dim = int(cfg.get("projection_dim", PROJECTION_DEFAULT))
        self.text_model, self.vision_model = TextTower(self.text_cfg), VisionTower(self.vision_cfg)
        self.visual_projection = nn.Linear(self.vision_cfg["hidden_size"], dim, bias=False)
        self.text_projection = nn.Linear(self.text_cfg["hidden_size"], dim, bias=False)
        self.dim = dim

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.visual_projection(self.vision_model(pixels))

    def encode_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_projection(self.text_model(input_ids))


# -- loading -----------------------------------------------------------------------------------
def weight_files(folder: Path) -> list[Path]:
    """The checkpoint's weight files (a sharded index's shards in order); safetensors first, as transformers."""
    for name in WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            try:
                shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError) as exc:
                raise HarnessError(f"{path}: not a readable shard index ({exc})") from exc
            missing = [s for s in shards if not (folder / s).is_file()]
            if missing:
                raise HarnessError(f"{path}: shard file(s) missing: {', '.join(missing)}")
            return [folder / s for s in shards]
        return [path]
    raise HarnessError(f"EVA-CLIP checkpoint {str(folder)!r} has no weights (one of {', '.join(WEIGHT_FILES)})")


def read_state_dict(folder: Path, device: str = "cpu", dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """All tensors of the checkpoint, floating ones cast to ``dtype``, file by file (``.bin`` memory-mapped)."""
    out: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                part = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
        else:
            try:
                part = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # an old (non-zip) pickle cannot be memory-mapped
                part = torch.load(str(path), map_location="cpu", weights_only=True)
        for key, tensor in part.items():
            cast = dtype if (dtype is not None and tensor.is_floating_point()) else tensor.dtype
            out[key] = tensor.to(device=device, dtype=cast)
        del part
    return out


def checkpoint_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of the checkpoint's tensors without reading their data (safetensors headers;
    ``.bin`` memory-mapped)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for path in weight_files(folder):
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                shapes.update({k: tuple(f.get_slice(k).get_shape()) for k in f.keys()})  # noqa: SIM118
        else:
            try:
                part = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:
                part = torch.load(str(path), map_location="cpu", weights_only=True)
            shapes.update({k: tuple(v.shape) for k, v in part.items()})
    return shapes


def meta_model(folder: Path) -> EvaClipModel:
    """The model a hub-layout folder's ``config.json`` describes, built on the meta device (no weights)."""
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"EVA-CLIP checkpoint {str(folder)!r}: cannot read config.json ({exc})") from exc
    with torch.device("meta"):
        return EvaClipModel(cfg)


def check_checkpoint(source: str | Path) -> None:
    """Pre-flight: the checkpoint's key set and shapes against the model built on the meta device (no
    weights loaded); :class:`WeightsMismatchError` names every key that differs."""
    folder = Path(source).expanduser()
    model = meta_model(folder)
    check_keys({k: tuple(v.shape) for k, v in model.state_dict().items()}, checkpoint_shapes(folder), str(folder),
               "EVA-CLIP checkpoint", ignore_unexpected=IGNORED_KEYS)


def load_native(source: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> EvaClipModel:
    """The EVA-CLIP model of a hub-layout folder, its weights loaded strictly (names any key that differs)."""
    folder = Path(source).expanduser()
    model = meta_model(folder)
    state = read_state_dict(folder, device, dtype)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_keys(expected, {k: tuple(v.shape) for k, v in state.items()}, str(folder), "EVA-CLIP checkpoint",
               ignore_unexpected=IGNORED_KEYS)
    for key in [k for k in state if k not in expected]:
        ids = state.pop(key)
        if key == "logit_scale":
            continue
        if not torch.equal(ids.reshape(-1).cpu(), torch.arange(ids.numel())):
            raise WeightsMismatchError(str(folder), unexpected=[f"{key} (not 0..n-1)"], what="EVA-CLIP checkpoint")
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


# -- the encoder (encoder=native) ----------------------------------------------------------------
class NativeEvaClipEncoder(TransformersClipEncoder):
    """EVA-CLIP-8B's hub checkpoint through the project's own implementation (:mod:`.eva_clip_native`):
    the same weights, preprocessing and tokenizer as ``encoder=transformers``, no remote code."""

    backend = "native"

    def __init__(self, model: str, pretrained: str | None, device: str, dtype: torch.dtype, batch_size: int,
                 preprocess: str = "pil", image_size: int = 224) -> None:
        # trust_remote_code only lifts the parent's refusal: _load below runs no code from the checkpoint
        super().__init__(model, pretrained, device, dtype, batch_size, trust_remote_code=True,
                         preprocess=preprocess, image_size=image_size)

    def _load(self, source: str, device: str, dtype: torch.dtype) -> Any:
        from reag_harness.models.hf_checkpoints import resolve_checkpoint

        folder, _ = resolve_checkpoint(source)
        if not Path(folder).is_dir():
            raise HarnessError(f"encoder=native: {source!r} is neither a local folder nor in the Hugging Face cache "
                               "(download it and pass pretrained=/path/to/EVA-CLIP-8B)")
        if not is_eva_clip_checkpoint(folder):
            raise HarnessError(f"encoder=native: {folder!r} is not an EVA-CLIP checkpoint (its config.json names no "
                               "EvaCLIPModel); use encoder=open_clip, hf or transformers for other models")
        self.source = folder
        return load_native(folder, device, dtype)
