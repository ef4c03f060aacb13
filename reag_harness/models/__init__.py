"""Models: the backends generators and critics pick (hf_vlm with one adapter per family in ``families/``,
hf_llm, the OpenAI-compatible client, vLLM, CLIP and EVA-CLIP encoders, prefix scoring, the query crop).

``tiny/`` builds the offline tiny checkpoints (tests, demo, benchmarks) loaded through the same
``from_pretrained`` paths. Imports the core, the contracts and prompts only.
"""
