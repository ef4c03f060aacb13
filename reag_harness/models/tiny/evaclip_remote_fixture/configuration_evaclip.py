"""EVA-CLIP configuration (test fixture in the published layout and defaults)."""

from transformers import PretrainedConfig


class EvaCLIPTextConfig(PretrainedConfig):
    model_type = "evaclip_text_model"

    def __init__(self, vocab_size=49408, hidden_size=512, intermediate_size=2048, projection_dim=512,
                 num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77, hidden_act="gelu",
                 layer_norm_eps=1e-5, attention_dropout=0.0, initializer_range=0.02, initializer_factor=1.0,
                 q_bias=True, k_bias=True, v_bias=True, post_layernorm=False, pad_token_id=1, bos_token_id=0,
                 eos_token_id=2, use_rms_norm=False, **kwargs):
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)
        self.vocab_size, self.hidden_size, self.intermediate_size = vocab_size, hidden_size, intermediate_size
        self.projection_dim, self.num_hidden_layers = projection_dim, num_hidden_layers
        self.num_attention_heads, self.max_position_embeddings = num_attention_heads, max_position_embeddings
        self.hidden_act, self.layer_norm_eps, self.attention_dropout = hidden_act, layer_norm_eps, attention_dropout
        self.initializer_range, self.initializer_factor = initializer_range, initializer_factor
        self.q_bias, self.k_bias, self.v_bias = q_bias, k_bias, v_bias
        self.post_layernorm, self.use_rms_norm = post_layernorm, use_rms_norm


class EvaCLIPVisionConfig(PretrainedConfig):
    model_type = "evaclip_vision_model"

    def __init__(self, hidden_size=768, intermediate_size=3072, projection_dim=512, num_hidden_layers=12,
                 num_attention_heads=12, num_channels=3, image_size=224, patch_size=32, hidden_act="gelu",
                 layer_norm_eps=1e-5, attention_dropout=0.0, initializer_range=0.02, initializer_factor=1.0,
                 q_bias=True, k_bias=True, v_bias=True, post_layernorm=False, use_rms_norm=True, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.intermediate_size, self.projection_dim = hidden_size, intermediate_size, projection_dim
        self.num_hidden_layers, self.num_attention_heads = num_hidden_layers, num_attention_heads
        self.num_channels, self.image_size, self.patch_size = num_channels, image_size, patch_size
        self.hidden_act, self.layer_norm_eps, self.attention_dropout = hidden_act, layer_norm_eps, attention_dropout
        self.initializer_range, self.initializer_factor = initializer_range, initializer_factor
        self.q_bias, self.k_bias, self.v_bias = q_bias, k_bias, v_bias
        self.post_layernorm, self.use_rms_norm = post_layernorm, use_rms_norm


class EvaCLIPConfig(PretrainedConfig):
    model_type = "evaclip"
    sub_configs = {"text_config": EvaCLIPTextConfig, "vision_config": EvaCLIPVisionConfig}

    def __init__(self, text_config=None, vision_config=None, projection_dim=512, logit_scale_init_value=2.6592,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(text_config, PretrainedConfig):
            text_config = text_config.to_dict()
        if isinstance(vision_config, PretrainedConfig):
            vision_config = vision_config.to_dict()
        self.text_config = EvaCLIPTextConfig(**(text_config or {}))
        self.vision_config = EvaCLIPVisionConfig(**(vision_config or {}))
        self.projection_dim, self.logit_scale_init_value = projection_dim, logit_scale_init_value
        self.initializer_factor, self.initializer_range = 1.0, 0.02
