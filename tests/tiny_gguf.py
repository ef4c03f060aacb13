"""The tiny Llama (``tiny:llama``, built offline) as a GGUF file for the llama-cpp-python server test.

Written with the ``gguf`` package as llama.cpp's ``convert_hf_to_gguf.py`` writes a Llama: float32
tensors under llama.cpp's names, q/k rows permuted back to Meta's interleaved rotary layout, the
byte-level BPE vocabulary and merges with the Qwen2 pre-tokenizer (the tiny tokenizers use its
regex), the special tokens as control tokens, and the chat template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LAYER_NAMES = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
}
TOP_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}


def permute(weights: Any, n_head: int) -> Any:
    """HF's rotate-half q/k rows as llama.cpp's interleaved layout (convert_hf_to_gguf.LlamaModel.permute)."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def tiny_llama_gguf(out: Path) -> Path:
    import gguf
    import torch
    from safetensors.torch import load_file

    from reag_harness.models.tiny.vlms import tiny_checkpoint

    src = tiny_checkpoint("llama")
    cfg = json.loads((src / "config.json").read_text())
    tok = json.loads((src / "tokenizer.json").read_text())
    n_vocab, n_head, n_kv = int(cfg["vocab_size"]), int(cfg["num_attention_heads"]), int(cfg["num_key_value_heads"])
    head_dim = int(cfg.get("head_dim") or cfg["hidden_size"] // n_head)

    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(int(cfg["max_position_embeddings"]))
    writer.add_embedding_length(int(cfg["hidden_size"]))
    writer.add_block_count(int(cfg["num_hidden_layers"]))
    writer.add_feed_forward_length(int(cfg["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta")
                                    or 10000.0))
    writer.add_layer_norm_rms_eps(float(cfg["rms_norm_eps"]))
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(n_vocab)

    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    types = [gguf.TokenType.UNUSED] * n_vocab
    for text, i in tok["model"]["vocab"].items():
        tokens[i], types[i] = text, gguf.TokenType.NORMAL
    for added in tok["added_tokens"]:
        i = added["id"]
        tokens[i] = added["content"]
        types[i] = gguf.TokenType.CONTROL if added.get("special") else gguf.TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    ids = {a["content"]: a["id"] for a in tok["added_tokens"]}
    writer.add_bos_token_id(ids["<|begin_of_text|>"])
    writer.add_eos_token_id(ids["<|eot_id|>"])
    writer.add_pad_token_id(ids["<|end_of_text|>"])
    writer.add_add_bos_token(True)
    template = src / "chat_template.jinja"
    writer.add_chat_template(template.read_text() if template.is_file()
                             else json.loads((src / "tokenizer_config.json").read_text())["chat_template"])

    for name, tensor in load_file(str(src / "model.safetensors")).items():
        array = tensor.to(torch.float32).numpy()
        if name in TOP_NAMES:
            writer.add_tensor(TOP_NAMES[name], array)
            continue
        _, _, layer, rest = name.split(".", 3)  # model.layers.N.<rest>.weight
        part = rest.removesuffix(".weight")
        if part == "self_attn.q_proj":
            array = permute(array, n_head)
        elif part == "self_attn.k_proj":
            array = permute(array, n_kv)
        writer.add_tensor(f"blk.{layer}.{LAYER_NAMES[part]}.weight", array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
