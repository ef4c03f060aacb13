"""A tiny random cross-encoder (BERT, one relevance logit) built offline for the ``cross-encoder`` critic tests.

Written with ``save_pretrained`` (``BertForSequenceClassification`` with ``num_labels=1`` and a WordPiece
tokenizer over a small English word list) and loaded by ``sentence_transformers.CrossEncoder(folder)``:
the code path of ``cross-encoder/ms-marco-MiniLM-L6-v2``. Its scores are meaningless.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from filelock import FileLock

from reag_harness.core.paths import tiny_dir

TINY_NAME = "cross_encoder-v1"
WORDS = ("the of and in to a is was for on as by with from that at it an are this what which who when where how "
         "year built city river tower bridge church museum king queen war species flower bird tree red green blue "
         "first known named located population height metres old new large small designed architect paris").split()


def tiny_cross_encoder_path(seed: int = 0) -> Path:
    """The checkpoint folder, built on first use (file lock + atomic rename)."""
    folder = tiny_dir(TINY_NAME) / f"seed{seed}"
    if (folder / "config.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / ".build.lock")):
        if (folder / "config.json").exists():
            return folder
        import torch
        from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
        vocab = specials + letters + [f"##{c}" for c in letters] + list(dict.fromkeys(WORDS)) + list(".,?!'-")
        (tmp / "vocab.txt").write_text("\n".join(vocab) + "\n")
        tokenizer = BertTokenizer(vocab_file=str(tmp / "vocab.txt"), do_lower_case=True)
        torch.manual_seed(seed)
        config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=128, num_labels=1)
        model = BertForSequenceClassification(config)
        with torch.no_grad():  # larger head weights: scores that differ between pairs
            model.classifier.weight.normal_(0.0, 1.0)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        os.replace(tmp, folder)
    return folder
