"""Tiny random checkpoints of every supported family, built offline on first use (tests, demos).

Each has its family's real architecture class, processor class, special tokens and chat
template (written from the published checkpoints' ``chat_template``), only very small, and
loads through the same ``AutoProcessor`` / ``AutoModelFor...`` ``from_pretrained`` path as
the hub checkpoints. Tokenizers are byte-level BPEs trained offline on a small corpus
(:func:`reag_harness.models.tiny_qwen.train_tiny_bpe`) plus the family's special tokens.
Weights are random (seeded): answers are meaningless.

Use them by name: ``pretrained=tiny:<family>`` (:data:`TINY_FAMILIES`), or the path from
:func:`tiny_checkpoint`. They live under the harness cache (``tiny/<family>-v1``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reag_harness.errors import HarnessError

from .tiny_qwen import CHAT_TEMPLATE as QWEN_CHAT_TEMPLATE
from .tiny_qwen import CLIP_MEAN, CLIP_STD, build_once, tiny_qwen25vl_path, train_tiny_bpe

SEED = 0
TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=4096, initializer_range=0.5)
SIGLIP_MEAN = [0.5, 0.5, 0.5]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

# ---------------------------------------------------------------------------------------
# The families' chat templates (those of the hub checkpoints named in each builder)
# ---------------------------------------------------------------------------------------

# llava-hf/llava-1.5-7b-hf
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}"
    "{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

# llava-hf/llava-onevision-qwen2-7b-ov-hf
LLAVA_ONEVISION_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ content['text'] }}{% endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# OpenGVLab/InternVL3-8B-hf (transformers' convert_internvl_weights_to_hf.py)
INTERNVL_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}{{ '<video>\n' }}{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

# HuggingFaceTB/SmolVLM-Instruct (Idefics3's, with <|im_start|> for <|begin_of_text|>)
SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# google/gemma-3-4b-it
GEMMA3_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\n'}}\n"
    "{%- endif -%}\n"
)

# meta-llama/Llama-3.1-8B-Instruct, without its tool-calling branches (string content only)
LLAMA3_TEMPLATE = (
    "{{- bos_token }}\n"
    "{%- if not date_string is defined %}\n"
    "    {%- set date_string = \"26 Jul 2024\" %}\n"
    "{%- endif %}\n"
    "{#- This block extracts the system message, so we can slot it into the right place. #}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "{%- endif %}\n"
    "{#- System message #}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{{- system_message }}\n"
    "{{- \"<|eot_id|>\" }}\n"
    "{%- for message in messages %}\n"
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
    "message['content'] | trim + '<|eot_id|>' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n"
)


# ---------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------


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


def _ids(tokenizer: Any, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


def _save(path: Path, model: Any, processor: Any, eos: list[int], pad: int | None, bos: int | None = None) -> Path:
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


def _seeded() -> None:
    import torch

    torch.manual_seed(SEED)


# ---------------------------------------------------------------------------------------
# The builders: one per family
# ---------------------------------------------------------------------------------------

QWEN_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
               "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]


def build_qwen2vl(path: Path) -> Path:
    """Qwen/Qwen2-VL-7B-Instruct in miniature (same chat template as Qwen2.5-VL)."""
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = make_tokenizer(QWEN_TOKENS, bos=None, eos="<|im_end|>", pad="<|endoftext|>", qwen=True)
    end, start, im_end, v_start, v_end, _, image, video = _ids(tokenizer, *QWEN_TOKENS)
    image_processor = Qwen2VLImageProcessor(image_mean=CLIP_MEAN, image_std=CLIP_STD, min_pixels=3136,
                                            max_pixels=12845056, patch_size=14, temporal_patch_size=2, merge_size=2)
    video_processor = Qwen2VLVideoProcessor(image_mean=CLIP_MEAN, image_std=CLIP_STD, patch_size=14,
                                            temporal_patch_size=2, merge_size=2)
    processor = Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 video_processor=video_processor, chat_template=QWEN_CHAT_TEMPLATE)
    text = dict(TEXT, vocab_size=len(tokenizer), rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                                                  "mrope_section": [2, 3, 3]},
                bos_token_id=end, eos_token_id=im_end, pad_token_id=end)
    vision = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, initializer_range=0.5)
    config = Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=image, video_token_id=video,
                           vision_start_token_id=v_start, vision_end_token_id=v_end)
    _seeded()
    return _save(path, Qwen2VLForConditionalGeneration(config).eval(), processor, [im_end, end], end, end)


def build_llava(path: Path) -> Path:
    """llava-hf/llava-1.5-7b-hf in miniature: CLIP tower on a 56-pixel square, Llama LM."""
    from transformers import (
        CLIPImageProcessor,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip import CLIPVisionConfig

    tokenizer = make_tokenizer(["<unk>", "<s>", "</s>", "<image>", "<pad>"], bos="<s>", eos="</s>", pad="<pad>",
                               unk="<unk>", add_bos=True, extra={"image_token": "<image>"})
    bos, eos, image, pad = _ids(tokenizer, "<s>", "</s>", "<image>", "<pad>")
    image_processor = CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56},
                                         image_mean=CLIP_MEAN, image_std=CLIP_STD)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=LLAVA_TEMPLATE)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=56, patch_size=14, projection_dim=32, initializer_range=0.5)
    text = LlamaConfig(**TEXT, vocab_size=len(tokenizer), bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image, image_seq_length=16,
                         vision_feature_select_strategy="default", vision_feature_layer=-2)
    _seeded()
    return _save(path, LlavaForConditionalGeneration(config).eval(), processor, [eos], pad, bos)


def build_llava_onevision(path: Path) -> Path:
    """llava-hf/llava-onevision-qwen2-7b-ov-hf in miniature: SigLIP tower, anyres tiles of 28 pixels, Qwen2 LM."""
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
        Qwen2Config,
        SiglipVisionConfig,
    )

    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
    tokenizer = make_tokenizer(tokens, bos=None, eos="<|im_end|>", pad="<|endoftext|>", qwen=True,
                               extra={"image_token": "<image>", "video_token": "<video>"})
    end, _, im_end, image, video = _ids(tokenizer, *tokens)
    pinpoints = [[28, 28], [28, 56], [56, 28], [56, 56]]
    image_processor = LlavaOnevisionImageProcessor(size={"height": 28, "width": 28}, image_grid_pinpoints=pinpoints,
                                                   image_mean=SIGLIP_MEAN, image_std=SIGLIP_MEAN)
    video_processor = LlavaOnevisionVideoProcessor(size={"height": 28, "width": 28}, image_mean=SIGLIP_MEAN,
                                                   image_std=SIGLIP_MEAN)
    processor = LlavaOnevisionProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                        video_processor=video_processor, num_image_tokens=4,
                                        vision_feature_select_strategy="full", chat_template=LLAVA_ONEVISION_TEMPLATE)
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                image_size=28, patch_size=14)
    text = Qwen2Config(**TEXT, vocab_size=len(tokenizer), bos_token_id=end, eos_token_id=im_end, pad_token_id=end)
    config = LlavaOnevisionConfig(vision_config=vision, text_config=text, image_token_index=image,
                                  video_token_index=video, image_grid_pinpoints=pinpoints,
                                  vision_feature_select_strategy="full", vision_feature_layer=-1)
    _seeded()
    return _save(path, LlavaOnevisionForConditionalGeneration(config).eval(), processor, [im_end, end], end, end)


def build_internvl(path: Path) -> Path:
    """OpenGVLab/InternVL3-8B-hf in miniature: 28-pixel crops (max 2 + thumbnail), Qwen2 LM."""
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
        InternVLVisionConfig,
        Qwen2Config,
    )

    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"]
    tokenizer = make_tokenizer(tokens, bos=None, eos="<|im_end|>", pad="<|endoftext|>", qwen=True, extra={
        "start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>"})
    end, _, im_end, _, _, context, _ = _ids(tokenizer, *tokens)
    image_processor = GotOcr2ImageProcessor(size={"height": 28, "width": 28}, max_patches=2, crop_to_patches=True,
                                            image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
    video_processor = InternVLVideoProcessor(size={"height": 28, "width": 28}, image_mean=IMAGENET_MEAN,
                                             image_std=IMAGENET_STD)
    processor = InternVLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                  video_processor=video_processor, image_seq_length=1,
                                  chat_template=INTERNVL_TEMPLATE)
    vision = InternVLVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                  image_size=28, patch_size=14)
    text = Qwen2Config(**TEXT, vocab_size=len(tokenizer), bos_token_id=end, eos_token_id=im_end, pad_token_id=end)
    config = InternVLConfig(vision_config=vision, text_config=text, image_token_id=context, image_seq_length=1,
                            downsample_ratio=0.5, tie_word_embeddings=False)
    _seeded()
    return _save(path, InternVLForConditionalGeneration(config).eval(), processor, [im_end, end], end, end)


def build_smolvlm(path: Path) -> Path:
    """HuggingFaceTB/SmolVLM-Instruct in miniature: 32-pixel tiles and a global view, Llama LM."""
    from transformers import (
        LlamaConfig,
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )
    from transformers.models.smolvlm import SmolVLMVisionConfig

    rows = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    tokens = ["<|im_start|>", "<|endoftext|>", "<end_of_utterance>", "<image>", "<fake_token_around_image>",
              "<global-img>", *rows]
    tokenizer = make_tokenizer(tokens, bos="<|im_start|>", eos="<end_of_utterance>", pad="<|endoftext|>", extra={
        "image_token": "<image>", "fake_image_token": "<fake_token_around_image>",
        "global_image_token": "<global-img>", "end_of_utterance_token": "<end_of_utterance>"})
    bos, pad, eos, image = _ids(tokenizer, *tokens[:4])
    image_processor = SmolVLMImageProcessor(do_image_splitting=True, size={"longest_edge": 64},
                                            max_image_size={"longest_edge": 32}, image_mean=SIGLIP_MEAN,
                                            image_std=SIGLIP_MEAN)
    video_processor = SmolVLMVideoProcessor(size={"longest_edge": 64}, max_image_size={"longest_edge": 32},
                                            image_mean=SIGLIP_MEAN, image_std=SIGLIP_MEAN)
    processor = SmolVLMProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                 video_processor=video_processor, image_seq_len=1, chat_template=SMOLVLM_TEMPLATE)
    vision = SmolVLMVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                 image_size=32, patch_size=16)
    text = LlamaConfig(**TEXT, vocab_size=len(tokenizer), bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    config = SmolVLMConfig(vision_config=vision, text_config=text, image_token_id=image, scale_factor=2)
    _seeded()
    return _save(path, SmolVLMForConditionalGeneration(config).eval(), processor, [eos], pad, bos)


def build_gemma3(path: Path) -> Path:
    """google/gemma-3-4b-it in miniature: SigLIP tower on 56 pixels pooled to 4 tokens, Gemma-3 LM."""
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessor,
        Gemma3Processor,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )

    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
              "<end_of_image>", "<image_soft_token>"]
    tokenizer = make_tokenizer(tokens, bos="<bos>", eos="<eos>", pad="<pad>", unk="<unk>", add_bos=True, extra={
        "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"})
    pad, eos, bos, _, _, end_turn, boi, eoi, image = _ids(tokenizer, *tokens)
    image_processor = Gemma3ImageProcessor(size={"height": 56, "width": 56}, image_mean=SIGLIP_MEAN,
                                           image_std=SIGLIP_MEAN)
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_length=4,
                                chat_template=GEMMA3_TEMPLATE)
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                image_size=56, patch_size=14, vision_use_head=False)
    text = Gemma3TextConfig(**{**TEXT, "num_hidden_layers": 2}, vocab_size=len(tokenizer), head_dim=16,
                            query_pre_attn_scalar=16, sliding_window=64, bos_token_id=bos, eos_token_id=eos,
                            pad_token_id=pad)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4, boi_token_index=boi,
                          eoi_token_index=eoi, image_token_index=image, tie_word_embeddings=False)
    _seeded()
    return _save(path, Gemma3ForConditionalGeneration(config).eval(), processor, [eos, end_turn], pad, bos)


def build_blip2(path: Path) -> Path:
    """Salesforce/blip2-opt-2.7b in miniature: ViT on 28 pixels, a 2-layer Q-Former with 4 queries, OPT LM."""
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        BlipImageProcessor,
        OPTConfig,
    )
    from transformers.models.blip_2 import Blip2QFormerConfig, Blip2VisionConfig

    tokens = ["<pad>", "</s>", "<unk>", "<image>"]
    # No ``image_token`` attribute: like the hub tokenizer's; Blip2Processor then uses the added "<image>".
    tokenizer = make_tokenizer(tokens, bos="</s>", eos="</s>", pad="<pad>", unk="<unk>", add_bos=True)
    pad, eos, _, image = _ids(tokenizer, *tokens)
    image_processor = BlipImageProcessor(size={"height": 28, "width": 28}, image_mean=CLIP_MEAN, image_std=CLIP_STD)
    processor = Blip2Processor(image_processor=image_processor, tokenizer=tokenizer, num_query_tokens=4)
    vision = Blip2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               image_size=28, patch_size=14, initializer_range=0.5)
    qformer = Blip2QFormerConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, encoder_hidden_size=32, initializer_range=0.5)
    text = OPTConfig(vocab_size=len(tokenizer), hidden_size=64, ffn_dim=128, num_hidden_layers=2,
                     num_attention_heads=4, word_embed_proj_dim=64, max_position_embeddings=2048,
                     bos_token_id=eos, eos_token_id=eos, pad_token_id=pad, init_std=0.5)
    config = Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(), text_config=text.to_dict(),
                         num_query_tokens=4, image_token_index=image, tie_word_embeddings=False)
    _seeded()
    return _save(path, Blip2ForConditionalGeneration(config).eval(), processor, [eos], pad, eos)


def build_llama(path: Path, head_dim: int | None = None) -> Path:
    """meta-llama/Llama-3.1-8B-Instruct in miniature (text only, for ``hf-llm``).

    ``head_dim`` (default hidden/heads = 16) is 64 for ``tiny:llama-hd64``: vLLM's CPU attention
    refuses head sizes below 32.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    tokens = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tokenizer = make_tokenizer(tokens, bos="<|begin_of_text|>", eos="<|eot_id|>", pad="<|end_of_text|>",
                               add_bos=True)
    tokenizer.chat_template = LLAMA3_TEMPLATE
    bos, end, _, _, eot = _ids(tokenizer, *tokens)
    shape = {"head_dim": head_dim} if head_dim else {}
    config = LlamaConfig(**TEXT, **shape, vocab_size=len(tokenizer), bos_token_id=bos, eos_token_id=[end, eot],
                         pad_token_id=end, tie_word_embeddings=False)
    _seeded()
    return _save(path, LlamaForCausalLM(config).eval(), tokenizer, [eot, end], end, bos)


def _build_blip2_reranker(path: Path) -> Path:
    from .tiny_blip2_reranker import build_blip2_reranker

    return build_blip2_reranker(path)


def _build_reflectiva(path: Path) -> Path:
    from .tiny_reflectiva import build_reflectiva

    return build_reflectiva(path)


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------

TINY_FAMILIES: dict[str, Callable[[Path], Path]] = {
    "qwen2-vl": build_qwen2vl,
    "qwen2.5-vl": lambda path: path,  # built by tiny_qwen (see tiny_checkpoint)
    "llava": build_llava,
    "llava-onevision": build_llava_onevision,
    "internvl": build_internvl,
    "smolvlm": build_smolvlm,
    "gemma3": build_gemma3,
    "blip-2": build_blip2,
    "llama": build_llama,
    "reflectiva": lambda path: _build_reflectiva(path),  # original llava_llama layout (tiny_reflectiva)
    "blip2-reranker": lambda path: _build_blip2_reranker(path),  # EchoSight's Q-Former (tiny_blip2_reranker)
    "llama-hd64": lambda path: build_llama(path, head_dim=64),
}
"""``tiny:<name>`` -> builder. ``llama`` (and ``llama-hd64``, the same with 64-wide attention heads, which
vLLM's CPU backend accepts) is a text-only LM (for ``hf-llm``); the rest are VLMs."""

VERSION = "v1"


def tiny_checkpoint(family: str) -> Path:
    """The folder of the tiny checkpoint of ``family`` (a key of :data:`TINY_FAMILIES`), built on first use."""
    key = family.strip().lower().replace("_", "-")
    if key == "qwen2.5-vl":
        return tiny_qwen25vl_path()
    if key not in TINY_FAMILIES:
        raise HarnessError(f"no tiny checkpoint '{family}': use one of "
                           + ", ".join(f"tiny:{name}" for name in TINY_FAMILIES))
    return build_once(f"{key}-{VERSION}", TINY_FAMILIES[key])


def build_all() -> dict[str, Path]:
    """Every tiny checkpoint (built once); for fixtures and ``python -m reag_harness.models.tiny_vlms``."""
    return {name: tiny_checkpoint(name) for name in TINY_FAMILIES}


if __name__ == "__main__":  # pragma: no cover - a convenience for building the cache ahead of time
    for name, folder in build_all().items():
        print(f"tiny:{name}\t{folder}\t{sum(f.stat().st_size for f in folder.iterdir()) // 1024} KiB")
    os._exit(0)
