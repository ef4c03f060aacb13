"""A tiny random Qwen2.5-VL checkpoint built offline (tests, demo).

It has the real architecture, special tokens, chat template and image preprocessing of
Qwen2.5-VL, only very small: it loads through exactly the same
``AutoProcessor.from_pretrained`` / ``AutoModelForImageTextToText.from_pretrained`` path as
``aimagelab/ReAG-7B``. Its weights are random (seeded), so its answers are meaningless.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from reag_harness.core.paths import tiny_dir

TINY_NAME = "qwen2_5_vl-v2"  # v2: generation_config max_new_tokens=16 (as every tiny checkpoint)
VOCAB_SIZE = 2000  # byte-level BPE vocabulary, before the special tokens
SEED = 0

# The real Qwen2.5-VL added tokens, in their real order (ids follow the BPE vocabulary).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
NON_SPECIAL_ADDED = ("<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                     "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>")

# The chat template of Qwen/Qwen2.5-VL-7B-Instruct (chat_template.json), verbatim.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}"
    "{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

_CORPUS = """\
You are a helpful assistant. You are a relevance judge for knowledge-based visual question answering.
Answer Yes if even one sentence of the passage helps answer the question, otherwise No. Answer in one word.
Yes No Yes No Yes. No. Yes, No, "Yes" "No"
Question: What is the name of this building? Passage: The cathedral was built in the twelfth century.
Does the passage help answer the question? Answer Yes or No.
In which country is this mountain located? Who designed this bridge? When was this church built?
What is the height of this tower in metres? How many species of this bird are known?
The following paragraphs may contain useful information to answer the question.
<paragraph>The river flows through the city and into the sea.</paragraph>
<think>The image shows a bird. The passage says it lives in Europe.</think><answer>Europe</answer>
A conversation between User and Assistant. The assistant first thinks about the reasoning process
in the mind and then provides the user with the answer. Give a short answer. Short answer:
Answer the question based on the image above. The answer is 1887, 42, 3.5 km, Paris, London, Rome.
The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after the
engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889. Mount Everest is the
highest mountain above sea level, located in the Mahalangur Himal sub-range of the Himalayas. The red fox is the
largest of the true foxes and one of the most widely distributed members of the order Carnivora. Lions live in
prides; cheetahs are the fastest land animals. Which river runs through this city? What colour are its flowers?
Where does this plant grow? Which architect designed this museum, and in what year did it open to visitors?
"""


def _corpus() -> list[str]:
    """The built-in text plus the ReAG prompt texts, so that prompts take few tiny tokens (fast tests)."""
    from reag_harness.prompts import reag as reag_prompts

    prompts = [v for k, v in sorted(vars(reag_prompts).items()) if isinstance(v, str) and not k.startswith("_")]
    return _CORPUS.splitlines() * 4 + [line for text in prompts for line in text.splitlines()]


def train_tiny_bpe():
    """``(vocab, merges)`` of a byte-level BPE with the Qwen2 pre-tokenizer, trained on the built-in
    corpus; every tiny checkpoint's tokenizer starts from it."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(models.BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="",
                               fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(_corpus(), trainer=trainer)
    vocab = tok.get_vocab()
    merges = json.loads(tok.to_str())["model"]["merges"]
    return vocab, [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]


def build_tiny_qwen25vl(path: str | os.PathLike[str]) -> Path:
    """Build the tiny checkpoint into ``path`` (overwritten) and return it."""
    import torch
    from tokenizers import AddedToken
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2TokenizerFast,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab, merges = train_tiny_bpe()
    for token in (*SPECIAL_TOKENS, *NON_SPECIAL_ADDED):  # real order: <|endoftext|> first, then <|im_start|>...
        vocab[token] = len(vocab)
    tokenizer = Qwen2TokenizerFast(
        vocab=vocab, merges=merges, unk_token=None, bos_token=None, eos_token="<|im_end|>",
        pad_token="<|endoftext|>", errors="replace", split_special_tokens=False, model_max_length=131072,
    )
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS],
                         special_tokens=True)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in NON_SPECIAL_ADDED])
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    for word in ("Yes", "No"):
        if len(tokenizer.encode(word, add_special_tokens=False)) != 1:
            raise RuntimeError(f"tiny tokenizer: {word!r} is not a single token")

    image_processor = Qwen2VLImageProcessor(
        do_resize=True, do_rescale=True, do_normalize=True, do_convert_rgb=True, image_mean=CLIP_MEAN,
        image_std=CLIP_STD, min_pixels=3136, max_pixels=12845056, patch_size=14, temporal_patch_size=2,
        merge_size=2,
    )
    video_processor = Qwen2VLVideoProcessor(image_mean=CLIP_MEAN, image_std=CLIP_STD, patch_size=14,
                                            temporal_patch_size=2, merge_size=2)
    processor = Qwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                    video_processor=video_processor, chat_template=CHAT_TEMPLATE)

    text = dict(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6, use_sliding_window=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        initializer_range=0.5,
    )
    vision = dict(
        depth=2, hidden_size=32, intermediate_size=64, num_heads=2, in_channels=3, patch_size=14,
        spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2, window_size=112, out_hidden_size=64,
        fullatt_block_indexes=[1], initializer_range=0.5,
    )
    config = Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False,
    )
    torch.manual_seed(SEED)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    with torch.no_grad():  # make "Yes"/"No" competitive so the tiny critic's P(Yes) spreads over [0, 1]
        for word in ("Yes", "No"):
            model.lm_head.weight[tokenizer.convert_tokens_to_ids(word)] *= 3.0
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"], do_sample=False,
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]], max_new_tokens=16,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def tiny_qwen25vl_path() -> Path:
    """The tiny checkpoint under ``tiny_dir(TINY_NAME)``, built on first use."""
    return build_once(TINY_NAME, build_tiny_qwen25vl)


def build_once(name: str, build: Callable[[Path], object]) -> Path:
    """``tiny_dir(name)``, filled by ``build(folder)`` unless already there.

    Concurrent processes are safe: a file lock serialises builders and the folder appears
    by an atomic rename of a fully written temporary folder.
    """
    target = tiny_dir(name)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():
            return target
        from reag_harness.core.atomic import remove_leftovers

        remove_leftovers(target.parent, f".{name}-*")  # staging folders of killed builds
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        try:
            build(tmp)
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache may be shared
            if target.exists():  # a half-written folder from a killed older build
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
