"""A tiny random BLIP-2 Q-Former retrieval model (``tiny:blip2-reranker``) and a tiny EchoSight ``reranker.pth``.

The folder is a transformers ``Blip2ForImageTextRetrieval`` checkpoint (as
``Salesforce/blip2-itm-vit-g``: Q-Former with text input, cross-attention every 2nd layer,
a BERT WordPiece tokenizer). :func:`write_lavis_checkpoint` writes a state dict in the LAVIS
``blip2_reranker`` names EchoSight's ``reranker.pth`` uses (``Qformer.bert.encoder.layer.N.
attention.self.query``, ``vision_proj``, ``query_tokens``...), for tests of the conversion.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_blip2_reranker(path: Path) -> Path:
    import torch
    from transformers import BertTokenizerFast, Blip2Config, Blip2ForImageTextRetrieval
    from transformers.models.blip_2 import Blip2QFormerConfig, Blip2VisionConfig

    from .qwen import _corpus

    words = sorted({w for line in _corpus() for w in re.findall(r"[a-z]+|[0-9]", line.lower())})
    vocab = SPECIAL + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [w for w in words if len(w) > 1]
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    vision = Blip2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               image_size=28, patch_size=14, initializer_range=0.5)
    qformer = Blip2QFormerConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64, encoder_hidden_size=32,
                                 cross_attention_frequency=2, use_qformer_text_input=True, initializer_range=0.5)
    config = Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(), num_query_tokens=4,
                         image_text_hidden_size=16)
    torch.manual_seed(0)
    model = Blip2ForImageTextRetrieval(config).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def to_lavis_key(key: str) -> str:
    """The inverse of :func:`reag_harness.models.qformer_reranker.lavis_key` for the Q-Former side."""
    fixed = {"embeddings.word_embeddings.weight": "Qformer.bert.embeddings.word_embeddings.weight",
             "embeddings.position_embeddings.weight": "Qformer.bert.embeddings.position_embeddings.weight",
             "qformer.layernorm.weight": "Qformer.bert.embeddings.LayerNorm.weight",
             "qformer.layernorm.bias": "Qformer.bert.embeddings.LayerNorm.bias", "query_tokens": "query_tokens"}
    if key in fixed:
        return fixed[key]
    if key.startswith("qformer.encoder."):
        rest = key[len("qformer."):].replace(".attention.attention.", ".attention.self.")
        return "Qformer.bert." + rest.replace(".crossattention.attention.", ".crossattention.self.")
    for new, old in (("vision_projection.", "vision_proj."), ("text_projection.", "text_proj."),
                     ("itm_head.", "itm_head.")):
        if key.startswith(new):
            return old + key[len(new):]
    raise ValueError(key)


def write_lavis_checkpoint(model: Any, path: Path, shift: float = 0.0) -> dict[str, Any]:
    """A ``reranker.pth`` of the model's Q-Former side (what EchoSight fine-tunes), weights shifted by ``shift``;
    plus LAVIS's unused ``Qformer.cls`` head and ``temp``, which loading must skip."""
    import torch

    state = {to_lavis_key(k): (v + shift).clone() for k, v in model.state_dict().items()
             if not k.startswith("vision_model.") and not k.endswith("position_ids")}
    state["Qformer.cls.predictions.bias"] = torch.zeros(3)
    state["temp"] = torch.tensor(0.07)
    torch.save(state, str(path))
    return state
