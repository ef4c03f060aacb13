"""Built-in generators, registered exactly as a third-party plugin would."""

from __future__ import annotations

from reag_harness.hookspecs import hookimpl

_P = "reag_harness.plugins.generators"


@hookimpl
def register_generators(register):
    register("reag-3b", f"{_P}.qwen_vl:reag_3b", description="aimagelab/ReAG-3B (Qwen2.5-VL-3B, SFT + GRPO)")
    register("reag-7b", f"{_P}.qwen_vl:reag_7b", description="aimagelab/ReAG-7B (Qwen2.5-VL-7B, SFT + GRPO)")
    register("qwen2.5-vl-3b", f"{_P}.qwen_vl:qwen25vl_3b", description="Qwen/Qwen2.5-VL-3B-Instruct")
    register("qwen2.5-vl-7b", f"{_P}.qwen_vl:qwen25vl_7b", description="Qwen/Qwen2.5-VL-7B-Instruct")
    register("qwen-vl", f"{_P}.qwen_vl:QwenVLGenerator",
             description="Any Qwen2.5-VL checkpoint: pretrained=HUB_ID_OR_PATH")
    register("hf-vlm", f"{_P}.hf_vlm:HFVLMGenerator",
             description="Any Hugging Face chat VLM: pretrained=HUB_ID_OR_PATH or tiny:FAMILY (docs/models.md)")
    register("hf-llm", f"{_P}.hf_llm:HFLLMGenerator",
             description="Any text-only causal LM (no image): pretrained=HUB_ID_OR_PATH or tiny:llama")
    register("tiny-qwen2.5-vl", f"{_P}.qwen_vl:tiny_qwen25vl",
             description="A tiny random Qwen2.5-VL built on first use (tests, demo: meaningless answers)")
    register("reflectiva", f"{_P}.reflectiva:ReflectiVAGenerator",
             description="aimagelab/ReflectiVA (llava_llama: LLaMA-3.1-8B + CLIP-L/336), [RET] gate; tiny:reflectiva")
    register("openai", f"{_P}.openai_chat:OpenAIGenerator",
             description="Any OpenAI-compatible Chat Completions server: base_url=URL,model=NAME[,api_key_env=VAR]")
