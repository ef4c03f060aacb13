"""What every tiny checkpoint builder shares: the tiny text-model shape, the tokenizer maker, seeding, saving."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .qwen import train_tiny_bpe

SEED = 0
TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=4096, initializer_range=0.5)
SIGLIP_MEAN = [0.5, 0.5, 0.5]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def make_tokenizer(special: list[str], *, bos: str | None, eos: str, pad: str, unk: str | None = None,
                   add_bos: bool = False, extra: dict[str, str] | None = None, qwen: bool = False) -> Any:
    """A fast tokenizer: the tiny BPE plus ``special`` tokens (ids after the vocabulary, in order).

    ``add_bos`` makes the tokenizer prepend ``bos`` (as Llama's and OPT's do); ``extra`` names
    special-token attributes the family's processor reads (``image_token``, ``boi_token``...).
    ``qwen`` builds a ``Qwen2Tokenizer`` (families whose language model is a Qwen2).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, Qwen2TokenizerFast
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    vocab, merges = train_tiny_bpe()
    kwargs: dict[str, Any] = dict(bos_token=bos, eos_token=eos, pad_token=pad, unk_token=unk,
                                  extra_special_tokens=dict(extra or {}))
    if qwen:
        tokenizer = Qwen2TokenizerFast(vocab=vocab, merges=merges, errors="replace", split_special_tokens=False,
                                       **kwargs)
    else:
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
        if add_bos and bos is not None:
            tok.post_processor = processors.TemplateProcessing(
                single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in special], special_tokens=True)
    for word in ("Yes", "No"):
        if len(tokenizer.encode(word, add_special_tokens=False)) != 1:
            raise RuntimeError(f"tiny tokenizer: {word!r} is not a single token")
    return tokenizer


def token_ids(tokenizer: Any, *tokens: str) -> list[int]:
    """The ids of ``tokens``, in order."""
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


def save_tiny(path: Path, model: Any, processor: Any, eos: list[int], pad: int | None,
              bos: int | None = None) -> Path:
    """Sharpen "Yes"/"No" (so the tiny critic's P(Yes) spreads), set greedy decoding, save both."""
    import torch
    from transformers import GenerationConfig

    tokenizer = getattr(processor, "tokenizer", processor)
    head = model.get_output_embeddings()
    if head is not None and head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        with torch.no_grad():
            for word in ("Yes", "No"):
                head.weight[tokenizer.convert_tokens_to_ids(word)] *= 3.0
    model.generation_config = GenerationConfig(bos_token_id=bos, pad_token_id=pad, eos_token_id=eos,
                                               do_sample=False, max_new_tokens=16)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def seeded() -> None:
    """Seed torch before a tiny model's random initialisation."""
    import torch

    torch.manual_seed(SEED)
