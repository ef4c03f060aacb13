"""The tiny checkpoint builders, one per VLM family (and Llama-3.1 for ``hf-llm``); registered in ``tiny_vlms``."""

from __future__ import annotations

from pathlib import Path

from .chat_templates import (
    GEMMA3_TEMPLATE,
    INTERNVL_TEMPLATE,
    LLAMA3_TEMPLATE,
    LLAVA_ONEVISION_TEMPLATE,
    LLAVA_TEMPLATE,
    SMOLVLM_TEMPLATE,
)
from .qwen import CHAT_TEMPLATE as QWEN_CHAT_TEMPLATE
from .qwen import CLIP_MEAN, CLIP_STD
from .vlm_parts import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SIGLIP_MEAN,
    TEXT,
    make_tokenizer,
    save_tiny,
    seeded,
    token_ids,
)

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
    end, start, im_end, v_start, v_end, _, image, video = token_ids(tokenizer, *QWEN_TOKENS)
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
    seeded()
    return save_tiny(path, Qwen2VLForConditionalGeneration(config).eval(), processor, [im_end, end], end, end)


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
    bos, eos, image, pad = token_ids(tokenizer, "<s>", "</s>", "<image>", "<pad>")
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
    seeded()
    return save_tiny(path, LlavaForConditionalGeneration(config).eval(), processor, [eos], pad, bos)


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
    end, _, im_end, image, video = token_ids(tokenizer, *tokens)
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
    seeded()
    return save_tiny(path, LlavaOnevisionForConditionalGeneration(config).eval(), processor, [im_end, end], end, end)


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
    end, _, im_end, _, _, context, _ = token_ids(tokenizer, *tokens)
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
    seeded()
    return save_tiny(path, InternVLForConditionalGeneration(config).eval(), processor, [im_end, end], end, end)


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
    bos, pad, eos, image = token_ids(tokenizer, *tokens[:4])
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
    seeded()
    return save_tiny(path, SmolVLMForConditionalGeneration(config).eval(), processor, [eos], pad, bos)


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
    pad, eos, bos, _, _, end_turn, boi, eoi, image = token_ids(tokenizer, *tokens)
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
    seeded()
    return save_tiny(path, Gemma3ForConditionalGeneration(config).eval(), processor, [eos, end_turn], pad, bos)


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
    pad, eos, _, image = token_ids(tokenizer, *tokens)
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
    seeded()
    return save_tiny(path, Blip2ForConditionalGeneration(config).eval(), processor, [eos], pad, eos)


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
    bos, end, _, _, eot = token_ids(tokenizer, *tokens)
    shape = {"head_dim": head_dim} if head_dim else {}
    config = LlamaConfig(**TEXT, **shape, vocab_size=len(tokenizer), bos_token_id=bos, eos_token_id=[end, eot],
                         pad_token_id=end, tie_word_embeddings=False)
    seeded()
    return save_tiny(path, LlamaForCausalLM(config).eval(), tokenizer, [eot, end], end, bos)
