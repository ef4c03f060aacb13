"""The generic Hugging Face VLM component: any ``AutoModelForImageTextToText`` checkpoint with its processor.

What a VLM critic and generator share (:class:`VLMComponent`: checkpoint, backend, processor
bounds, loading, identity, pre-flight) and the checkpoint names they accept: a hub id, a local
folder, or ``tiny:<family>``, a tiny random checkpoint built offline on first use
(:mod:`reag_harness.models.tiny.vlms`). The layers below it: checkpoint facts
(:mod:`~reag_harness.models.hf_checkpoints`), loading once per process
(:mod:`~reag_harness.models.hf_loading`), chat messages to processor inputs
(:mod:`~reag_harness.models.hf_prompts`), pre-flight (:mod:`~reag_harness.models.checkpoint_check`)
and the vLLM engine (:mod:`~reag_harness.models.vllm_backend`). What differs between families lives in
the small adapters of :mod:`reag_harness.models.families`, chosen from ``config.model_type``.
"""

from __future__ import annotations

from typing import Any

from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Component

from .checkpoint_check import checkpoint_problems
from .hf_checkpoints import checkpoint_identity
from .hf_loading import default_attn_implementation, load_model, load_processor, loaded_model

BACKENDS = ("transformers", "vllm")
TINY_PREFIX = "tiny:"


def resolve_pretrained(pretrained: str) -> str:
    """``tiny:<family>`` becomes the folder of that tiny checkpoint (built on first use); other names pass."""
    name = str(pretrained)
    if name.startswith(TINY_PREFIX):
        from .tiny.vlms import tiny_checkpoint

        return str(tiny_checkpoint(name[len(TINY_PREFIX):]))
    return name


def load_vlm(pretrained: str, device: str = "cpu", dtype: str = "float32", attn_implementation: str | None = None,
             min_pixels: int | None = None, max_pixels: int | None = None, model_max_length: int = 16384,
             trust_remote_code: bool = False) -> tuple[Any, Any]:
    """``(model, processor)`` of a VLM checkpoint (hub id, local folder or ``tiny:<family>``), cached per process."""
    pretrained = resolve_pretrained(pretrained)
    model = load_model(pretrained, device, dtype, attn_implementation, "vlm", trust_remote_code)
    return model, load_processor(pretrained, min_pixels, max_pixels, model_max_length, trust_remote_code)


class VLMComponent(Component):
    """What a VLM critic and generator share: checkpoint, backend, processor bounds, loading."""

    kind = "component"
    model_kind = "vlm"  # the auto class: "vlm" (image-text-to-text) or "causal-lm"
    auto_batch_start = 32
    identity_excludes: tuple[str, ...] = ("batch_size", "gpu_memory_utilization")

    def setup_vlm(self, pretrained: str, batch_size: int | str | None, backend: str, min_pixels: int | None,
                  max_pixels: int | None, model_max_length: int, attn_implementation: str | None,
                  gpu_memory_utilization: float | None, trust_remote_code: bool = False) -> None:
        """Validate and keep the shared options; with ``backend="vllm"`` fail early without vllm.

        ``pretrained="tiny:<family>"`` is resolved here (the tiny checkpoint is built on first use).
        """
        if backend not in BACKENDS:
            raise HarnessError(f"{self.kind} backend '{backend}' is unknown: use one of {', '.join(BACKENDS)}")
        self.pretrained = resolve_pretrained(str(pretrained))
        self.batch_size: int | str = self.runtime.batch_size if batch_size is None else batch_size
        self.backend = backend
        self.processor_args = dict(min_pixels=None if min_pixels is None else int(min_pixels),
                                   max_pixels=None if max_pixels is None else int(max_pixels),
                                   model_max_length=int(model_max_length))
        self.attn_implementation = attn_implementation
        self.trust_remote_code = bool(trust_remote_code)
        self.engine_args = {} if gpu_memory_utilization is None else {
            "gpu_memory_utilization": float(gpu_memory_utilization)}
        self._engine: Any = None
        self._auto_start = self.auto_batch_start
        if backend == "vllm":
            from reag_harness.models.vllm_backend import require_vllm

            require_vllm()  # fail at construction, with the install hint

    setup_qwen = setup_vlm  # the name the Qwen components used before the generic path

    def preflight(self) -> list[str]:
        """What would stop the checkpoint from loading, found without loading it (no network)."""
        return checkpoint_problems(self.pretrained, self.model_kind, self.trust_remote_code)

    def identity(self) -> dict[str, Any]:
        """Name, arguments (``identity_excludes`` left out), dtype and the checkpoint's identity."""
        args = {k: v for k, v in self.args.items() if k not in self.identity_excludes}
        return {"name": self.name, "version": self.version, "args": args, "dtype": self.runtime.dtype,
                "checkpoint": checkpoint_identity(self.pretrained)}

    def model_and_processor(self) -> tuple[Any, Any]:
        """The shared (model, processor), loaded on first use."""
        return load_vlm(self.pretrained, self.runtime.device, self.runtime.dtype, self.attn_implementation,
                        trust_remote_code=self.trust_remote_code, **self.processor_args)

    def runtime_facts(self) -> dict[str, Any]:
        """What ran (recorded in results.json): backend and the attention implementation of the loaded model."""
        if self.backend == "vllm":
            return {"backend": "vllm", "attn_implementation": "vllm's own attention backend"}
        attn = self.attn_implementation or default_attn_implementation(self.runtime.device)
        model = loaded_model(self.pretrained, self.runtime.device, self.runtime.dtype, attn, self.model_kind,
                             self.trust_remote_code)
        if model is None:
            return {"backend": "transformers", "attn_implementation": None,
                    "note": "the model was not loaded in this run (every record came from the stage cache)"}
        ran = getattr(model.config, "_attn_implementation", None) or attn
        return {"backend": "transformers", "attn_implementation": ran}

    def _vllm(self) -> Any:
        from reag_harness.models.vllm_backend import VLLMEngine

        if self._engine is None:
            dtype = "bfloat16" if self.runtime.dtype == "auto" else self.runtime.dtype
            self._engine = VLLMEngine.shared(self.pretrained, dtype, seed=self.runtime.seed,
                                             trust_remote_code=self.trust_remote_code, **self.processor_args,
                                             **self.engine_args)
        return self._engine

    def named(self, name: str) -> VLMComponent:
        """This component under a registered name (``reag-7b``, ``tiny-critic``, ...)."""
        self.name = name
        return self
