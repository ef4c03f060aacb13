"""Tiny random transformers CLIP and SigLIP checkpoints built offline (tests of the ``clip`` retriever).

Each is a folder written with ``save_pretrained`` (model, processor, tokenizer) and loaded back with
``AutoModel`` / ``AutoProcessor.from_pretrained``: the code path of ``openai/clip-vit-large-patch14``
or ``google/siglip-base-patch16-224``. The tokenizer is a byte-level CLIP BPE without merges (every
character a token, 514 ids), the towers 2 layers of width 32 at 32 px. Embeddings are meaningless.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from filelock import FileLock

from reag_harness.core.paths import tiny_dir

TINY_VERSION = "v1"  # bump when the architecture or the init changes
KINDS = ("clip", "siglip")


def _byte_chars() -> list[str]:
    """GPT-2 / CLIP byte -> printable character table (the BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def _tokenizer():
    from transformers import CLIPTokenizer

    chars = _byte_chars()
    vocab = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=[])


def tiny_hf_clip_path(kind: str = "clip", seed: int = 0) -> Path:
    """The checkpoint folder of a tiny ``CLIPModel`` (``kind="clip"``) or ``SiglipModel``, built on first use."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    folder = tiny_dir(f"hf_{kind}-{TINY_VERSION}") / f"seed{seed}"
    if (folder / "config.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / ".build.lock")):
        if (folder / "config.json").exists():
            return folder
        import torch

        tok = _tokenizer()
        n = len(tok)
        tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
        torch.manual_seed(seed)
        if kind == "clip":
            from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

            config = CLIPConfig(text_config=dict(vocab_size=n, max_position_embeddings=64, bos_token_id=n - 2,
                                                 eos_token_id=n - 1, pad_token_id=n - 1, **tower),
                                vision_config=dict(image_size=32, patch_size=8, **tower), projection_dim=24)
            model = CLIPModel(config)
            processor = CLIPProcessor(image_processor=CLIPImageProcessor(
                size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), tokenizer=tok)
        else:
            from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

            config = SiglipConfig(text_config=dict(vocab_size=n, max_position_embeddings=64, bos_token_id=n - 2,
                                                   eos_token_id=n - 1, pad_token_id=n - 1, **tower),
                                  vision_config=dict(image_size=32, patch_size=8, **tower))
            model = SiglipModel(config)
            processor = SiglipProcessor(image_processor=SiglipImageProcessor(size={"height": 32, "width": 32}),
                                        tokenizer=tok)
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(str(tmp))
        processor.save_pretrained(str(tmp))
        (tmp / "reag_tiny.json").write_text(json.dumps({"kind": kind, "seed": seed, "version": TINY_VERSION}))
        os.replace(tmp, folder)
    return folder
