"""``hf-llm``: a text-only causal LM (``AutoModelForCausalLM``, e.g. Llama-3.1-8B-Instruct) as the generator.

It receives the question and the kept passages but no image (the EchoSight / Wiki-LLaVA
text-only baselines). Turns are rendered with the tokenizer's chat template as plain
strings. A request that carries an image is an error: the prompt style must drop images
explicitly with ``text_only=true``, which the runner adds to the prompt style's arguments
for this generator (:attr:`HFLLMGenerator.prompt_style_args`; docs/models.md).
Arguments, batching, stop strings, ``assistant_prefix`` and ``on_batch`` are the VLM
generator's; ``backend="vllm"`` runs the same prompts through vLLM.
"""

from __future__ import annotations

from typing import Any

from reag_harness.interfaces import Runtime
from reag_harness.models.hf_llm import load_llm

from .qwen_vl import QwenVLGenerator


class HFLLMGenerator(QwenVLGenerator):
    """Batched, left-padded generation with a text-only causal LM; requests must carry no image."""

    name = "hf-llm"
    model_kind = "causal-lm"
    #: What the runner adds to the prompt style's arguments (a user's explicit value wins).
    prompt_style_args = {"text_only": True}

    def __init__(self, runtime: Runtime, pretrained: str, max_new_tokens: int | None = None, **kwargs: Any) -> None:
        for key in ("min_pixels", "max_pixels"):
            if kwargs.get(key) is not None:
                raise TypeError(f"hf-llm takes no {key} (it sees no image)")
        super().__init__(runtime, pretrained=pretrained, max_new_tokens=max_new_tokens, min_pixels=None,
                         max_pixels=None, **kwargs)
        self.args.pop("min_pixels", None)
        self.args.pop("max_pixels", None)

    def model_and_processor(self) -> tuple[Any, Any]:
        """The shared (model, tokenizer), loaded on first use."""
        return load_llm(self.pretrained, self.runtime.device, self.runtime.dtype, self.attn_implementation,
                        self.processor_args["model_max_length"], self.trust_remote_code)

    def _vllm(self) -> Any:
        from reag_harness.models.vllm_backend import VLLMEngine

        if self._engine is None:
            dtype = "bfloat16" if self.runtime.dtype == "auto" else self.runtime.dtype
            self._engine = VLLMEngine.shared(self.pretrained, dtype, seed=self.runtime.seed, text_only=True,
                                             trust_remote_code=self.trust_remote_code,
                                             model_max_length=self.processor_args["model_max_length"],
                                             **self.engine_args)
        return self._engine
