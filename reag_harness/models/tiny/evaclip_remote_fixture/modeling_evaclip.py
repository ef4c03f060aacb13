"""EVA-CLIP model (test fixture: published state-dict layout, non-persistent ``position_ids``, ``.data`` init)."""

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN

from .configuration_evaclip import EvaCLIPConfig


class RMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in [torch.float16, torch.bfloat16]:
            hidden_states = hidden_states.to(self.weight.dtype)
        return self.weight * hidden_states


def norm_layer(config):
    cls = RMSNorm if config.use_rms_norm else nn.LayerNorm
    return cls(config.hidden_size, eps=config.layer_norm_eps)


class EvaCLIPVisionEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config, self.embed_dim = config, config.hidden_size
        self.class_embedding = nn.Parameter(torch.randn(self.embed_dim))
        self.patch_embedding = nn.Conv2d(config.num_channels, self.embed_dim, kernel_size=config.patch_size,
                                         stride=config.patch_size, bias=True)
        self.num_positions = (config.image_size // config.patch_size) ** 2 + 1
        self.position_embedding = nn.Embedding(self.num_positions, self.embed_dim)
        self.register_buffer("position_ids", torch.arange(self.num_positions).expand((1, -1)), persistent=False)

    def forward(self, pixel_values):
        patches = self.patch_embedding(pixel_values.to(dtype=self.patch_embedding.weight.dtype))
        patches = patches.flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(pixel_values.shape[0], 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding(self.position_ids)


class EvaCLIPTextEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embedding = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                             persistent=False)

    def forward(self, input_ids):
        position_ids = self.position_ids[:, : input_ids.shape[-1]]
        return self.token_embedding(input_ids) + self.position_embedding(position_ids)


class EvaCLIPAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embed_dim, self.num_heads = config.hidden_size, config.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.scale = self.head_dim**-0.5
        self.k_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=config.k_bias)
        self.v_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=config.v_bias)
        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=config.q_bias)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim, bias=True)

    def _shape(self, tensor, seq_len, bsz):
        return tensor.view(bsz, seq_len, self.num_heads, self.head_dim).transpose(1, 2).contiguous()

    def forward(self, hidden_states, causal_attention_mask=None):
        bsz, tgt_len, embed_dim = hidden_states.size()
        proj_shape = (bsz * self.num_heads, -1, self.head_dim)
        query = self._shape(self.q_proj(hidden_states) * self.scale, tgt_len, bsz).view(*proj_shape)
        key = self._shape(self.k_proj(hidden_states), -1, bsz).view(*proj_shape)
        value = self._shape(self.v_proj(hidden_states), -1, bsz).view(*proj_shape)
        weights = torch.bmm(query, key.transpose(1, 2))
        if causal_attention_mask is not None:
            weights = weights.view(bsz, self.num_heads, tgt_len, tgt_len) + causal_attention_mask
            weights = weights.view(bsz * self.num_heads, tgt_len, tgt_len)
        out = torch.bmm(nn.functional.softmax(weights, dim=-1), value)
        out = out.view(bsz, self.num_heads, tgt_len, self.head_dim).transpose(1, 2).reshape(bsz, tgt_len, embed_dim)
        return self.out_proj(out)


class EvaCLIPMLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.activation_fn = ACT2FN[config.hidden_act]
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states):
        return self.fc2(self.activation_fn(self.fc1(hidden_states)))


class EvaCLIPEncoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.post_layernorm = bool(config.post_layernorm)
        self.self_attn, self.mlp = EvaCLIPAttention(config), EvaCLIPMLP(config)
        self.layer_norm1, self.layer_norm2 = norm_layer(config), norm_layer(config)

    def forward(self, hidden_states, causal_attention_mask=None):
        residual = hidden_states
        if not self.post_layernorm:
            hidden_states = self.layer_norm1(hidden_states)
        hidden_states = self.self_attn(hidden_states, causal_attention_mask)
        if self.post_layernorm:
            hidden_states = self.layer_norm1(hidden_states)
        hidden_states = residual + hidden_states
        residual = hidden_states
        if not self.post_layernorm:
            hidden_states = self.layer_norm2(hidden_states)
        hidden_states = self.mlp(hidden_states)
        if self.post_layernorm:
            hidden_states = self.layer_norm2(hidden_states)
        return residual + hidden_states


class EvaCLIPEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layers = nn.ModuleList([EvaCLIPEncoderLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, causal_attention_mask=None):
        for layer in self.layers:
            hidden_states = layer(hidden_states, causal_attention_mask)
        return hidden_states


class EvaCLIPPreTrainedModel(PreTrainedModel):
    config_class = EvaCLIPConfig
    base_model_prefix = "clip"
    _keys_to_ignore_on_load_missing = [r"position_ids"]

    def _init_weights(self, module):
        # As published: the text embeddings, LayerNorms and biases are written through .data.
        factor = self.config.initializer_factor
        if isinstance(module, EvaCLIPTextEmbeddings):
            module.token_embedding.weight.data.normal_(mean=0.0, std=factor * 0.02)
            module.position_embedding.weight.data.normal_(mean=0.0, std=factor * 0.02)
        elif isinstance(module, EvaCLIPVisionEmbeddings):
            nn.init.normal_(module.class_embedding, mean=0.0, std=module.embed_dim**-0.5 * factor)
            nn.init.normal_(module.patch_embedding.weight, std=0.02 * factor)
            nn.init.normal_(module.position_embedding.weight, std=0.02 * factor)
        elif isinstance(module, (EvaCLIPAttention, EvaCLIPMLP)):
            for child in module.children():
                if isinstance(child, nn.Linear):
                    nn.init.normal_(child.weight, std=0.02 * factor)
        elif isinstance(module, EvaCLIPModel):
            nn.init.normal_(module.text_projection.weight, std=module.text_embed_dim**-0.5 * factor)
            nn.init.normal_(module.visual_projection.weight, std=module.vision_embed_dim**-0.5 * factor)
        if isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()


class EvaCLIPTextTransformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings, self.encoder = EvaCLIPTextEmbeddings(config), EvaCLIPEncoder(config)
        self.final_layer_norm = norm_layer(config)

    def forward(self, input_ids):
        hidden_states = self.embeddings(input_ids)
        bsz, seq_len = input_ids.shape
        mask = torch.empty(bsz, seq_len, seq_len, dtype=hidden_states.dtype)
        mask.fill_(torch.tensor(torch.finfo(hidden_states.dtype).min))
        mask = mask.triu_(1).unsqueeze(1).to(hidden_states.device)
        last = self.final_layer_norm(self.encoder(hidden_states, mask))
        eot = input_ids.to(dtype=torch.int, device=last.device).argmax(dim=-1)
        return last[torch.arange(last.shape[0], device=last.device), eot]


class EvaCLIPVisionTransformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings, self.encoder = EvaCLIPVisionEmbeddings(config), EvaCLIPEncoder(config)
        self.post_layernorm = norm_layer(config)

    def forward(self, pixel_values):
        return self.post_layernorm(self.encoder(self.embeddings(pixel_values))[:, 0, :])


class EvaCLIPModel(EvaCLIPPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.text_embed_dim = config.text_config.hidden_size
        self.vision_embed_dim = config.vision_config.hidden_size
        self.text_model = EvaCLIPTextTransformer(config.text_config)
        self.vision_model = EvaCLIPVisionTransformer(config.vision_config)
        self.visual_projection = nn.Linear(self.vision_embed_dim, config.projection_dim, bias=False)
        self.text_projection = nn.Linear(self.text_embed_dim, config.projection_dim, bias=False)
        self.logit_scale = torch.tensor(100.0, requires_grad=False)
        self.post_init()

    def encode_text(self, input_ids=None, attention_mask=None):
        return self.text_projection(self.text_model(input_ids))

    def encode_image(self, pixel_values=None):
        return self.visual_projection(self.vision_model(pixel_values))
