"""A tiny random GroundingDINO (about 160K parameters) for tests and the demo.

It is saved with ``save_pretrained`` and loaded back through the same
``AutoProcessor``/``AutoModelForZeroShotObjectDetection.from_pretrained`` path as
``IDEA-Research/grounding-dino-base``: a Swin backbone, a BERT text encoder with an offline
WordPiece vocabulary, and a GroundingDINO image processor that resizes to 64-96 px. Its
boxes are meaningless; only the plumbing is real. Built once under
``reag_harness.core.paths.tiny_dir("grounding_dino-v1")``, guarded by a file lock.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from reag_harness.core.paths import tiny_dir

NAME = "grounding_dino-v1"
ALIAS = "tiny-grounding-dino"  # what ``QueryCropper(detector=...)`` accepts for this model
SEED = 0
_DONE = "BUILT"
_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = ["a", "an", "the", ".", "bird", "animal", "plant", "flower", "tree", "building", "church", "tower",
          "bridge", "statue", "car", "dog", "cat", "mountain", "lake", "river", "person", "painting"]
_CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789")


def tiny_vocab() -> dict[str, int]:
    """Special tokens, a few whole words, single characters and their ``##`` continuations:
    every lower-case ASCII word tokenizes without ``[UNK]``."""
    tokens = _SPECIAL + _WORDS + [c for c in _CHARS if c not in _WORDS] + ["##" + c for c in _CHARS]
    return {token: i for i, token in enumerate(tokens)}


def _build(target: Path) -> None:
    import torch
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    vocab = tiny_vocab()
    tokenizer = BertTokenizer(vocab=vocab)  # a tokenizers WordPiece model, as BertTokenizerFast was
    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                          window_size=2, out_features=["stage2", "stage3", "stage4"])
    text = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=64)
    # d_model is a multiple of 32 (GroupNorm(32, d_model)); two decoder layers (box-head tying
    # needs more than one).
    config = GroundingDinoConfig(backbone_config=backbone, text_config=text, d_model=32, num_queries=8,
                                 encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                                 encoder_attention_heads=2, decoder_attention_heads=2, encoder_n_points=1,
                                 decoder_n_points=1, max_text_len=32)
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = GroundingDinoForObjectDetection(config).eval()
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96})
    processor = GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
    model.save_pretrained(target)
    processor.save_pretrained(target)


def tiny_grounding_dino_path() -> Path:
    """The tiny checkpoint's folder, built on first use (safe across processes)."""
    target = tiny_dir(NAME)
    if (target / _DONE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / _DONE).exists():
            return target
        from reag_harness.core.atomic import remove_leftovers

        remove_leftovers(target.parent, f".{NAME}.staging-*")  # staging folders of killed builds
        staging = Path(tempfile.mkdtemp(prefix=f".{NAME}.staging-", dir=target.parent))
        try:
            _build(staging)
            (staging / _DONE).write_text("ok\n")
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target
