"""Built-in critics, registered exactly as a third-party plugin would."""

from __future__ import annotations

from reag_harness.hookspecs import hookimpl

_P = "reag_harness.plugins.critics"


@hookimpl
def register_critics(register):
    register("none", f"{_P}.none:NoCritic", description="Keep every retrieved passage")
    register("reag-critic", f"{_P}.qwen_critic:reag_critic",
             description="aimagelab/ReAG-Critic: P('Yes') at the last position, kept iff > threshold")
    register("cross-encoder", f"{_P}.cross_encoder:CrossEncoderCritic",
             description="sentence-transformers CrossEncoder reranker: relevance score, keeps the top_n passages")
    register("tiny-critic", f"{_P}.qwen_critic:tiny_critic",
             description="reag-critic on a tiny random Qwen2.5-VL built on first use (tests, demo)")
    register("openai-critic", f"{_P}.openai_critic:OpenAICritic",
             description="ReAG critic prompt on an OpenAI-compatible server: P('Yes') from top_logprobs "
                         "(base_url=URL,model=NAME)")
    register("reflectiva-rel", f"{_P}.reflectiva_rel:ReflectiVARelCritic",
             description="ReflectiVA's [REL] token: p_yes = P([REL]) of the first token; fallback=random")
    register("qformer-reranker", f"{_P}.qformer_reranker:QFormerRerankerCritic",
             description="EchoSight's BLIP-2 Q-Former section reranker (checkpoint=reranker.pth); top_n=1, fusion=0.5")
    register("hf-vlm-critic", f"{_P}.hf_vlm_critic:HFVLMCritic",
             description="ReAG critic prompt + P('Yes') on any chat VLM: pretrained=HUB_ID_OR_PATH or tiny:FAMILY")
