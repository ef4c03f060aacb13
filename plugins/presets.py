"""Named pipeline configurations: the ReAG paper's full setting, its baselines and ablations.

A preset named like a generator applies when that generator is chosen alone
(``reag-eval --task infoseek --generator reag-7b``). Explicit CLI components override it.
docs/presets.md explains each row and where the paper leaves the configuration open.
"""

from __future__ import annotations

from typing import Any

from reag_harness.hookspecs import hookimpl

TOP_K = 20  # both released scripts
CRITIC_THRESHOLD = 0.1  # the paper's operating point (the code's default is 0.5)

NO_RETRIEVAL: list[Any] = ["none", {}]
NO_CRITIC: list[Any] = ["none", {}]
REAG_CRITIC: list[Any] = ["reag-critic", {"threshold": CRITIC_THRESHOLD}]
REASONING: list[Any] = ["reag-reasoning", {"all_filtered": True}]
PLAIN: list[Any] = ["direct", {"all_filtered": True}]


#: What every preset gives the ``eva-clip`` retriever to load EVA-CLIP-8B: the one place to change it.
#: Empty: eva-clip's default encoder is the project's native EVA-CLIP-8B (reag_harness.models.eva_clip_native),
#: which loads the hub checkpoint strictly and runs no remote code, and a task's own encoder (the demo's tiny
#: open_clip model) still applies; ``encoder=transformers,trust_remote_code=true`` runs the hub's code instead.
EVA_CLIP_ARGS: dict[str, Any] = {}


def eva_clip(**args: Any) -> list[Any]:
    """The ``eva-clip`` retriever with :data:`EVA_CLIP_ARGS` and ``args``."""
    return ["eva-clip", {**args, **EVA_CLIP_ARGS}]


def coarse(crop: bool = False) -> list[Any]:
    """EVA-CLIP image -> page retrieval, top 20 pages, optionally with the query-image crop."""
    return eva_clip(top_k=TOP_K, crop=crop)


def preset(generator: str | list[Any], retriever: list[Any], critic: list[Any],
           prompt_style: list[Any]) -> dict[str, Any]:
    """A full configuration; ``generator`` is a registered name or ``[name, args]``."""
    gen = [generator, {}] if isinstance(generator, str) else generator
    return {"generator": gen, "retriever": retriever, "critic": critic, "prompt_style": prompt_style}


def hf_vlm(hub_id: str) -> list[Any]:
    """The generic transformers VLM generator on a hub checkpoint (or pretrained=/local/path)."""
    return ["hf-vlm", {"pretrained": hub_id}]


def zero_shot(generator: list[Any], prompt_style: list[Any] | None = None) -> dict[str, Any]:
    """No retrieval, no critic: the reference's VQA_PROMPT (``direct``) unless said otherwise."""
    return preset(generator, NO_RETRIEVAL, NO_CRITIC, prompt_style or ["direct", {}])


#: OpenAI retired ``gpt-4-vision-preview`` (the GPT-4V of the published row); ``gpt-4-turbo-2024-04-09``
#: is the GA GPT-4 Turbo with vision that replaced it. ``--generator-args model=...`` picks another.
GPT4V_MODEL = "gpt-4-turbo-2024-04-09"


def reag_full(generator: str) -> dict[str, Any]:
    """The paper's configuration (both released scripts)."""
    return preset(generator, coarse(crop=True), REAG_CRITIC, REASONING)


# Wiki-LLaVA (Caffagni et al., CVPR-W 2024): OpenAI CLIP ViT-L/14 image embedding against the text
# embeddings of the KB's page titles, then Contriever (dot product) over the passages of the top pages.
WIKI_LLAVA_CHAIN: list[Any] = ["chain", {
    "pages": "clip", "passages": "dense-text", "top_pages": 1, "top_passages": 3,
    "pages_args": {"model": "ViT-L-14", "pretrained": "openai", "index": "titles"},
    "passages_args": {"model": "facebook/contriever", "similarity": "dot"},
}]

ECHOSIGHT_TEMPERATURE = 0.6  # Go2Heart/EchoSight model/answer_generator.py
REFLECTIVA_ENTITY_K = 5  # scripts/ReflectiVA_{infoseek,evqa}.sh --entity_k 5

# name -> (configuration, description, aliases)
PRESETS: dict[str, tuple[dict[str, Any], str, tuple[str, ...]]] = {
    # The paper's systems (published-results.md).
    "reag-3b": (reag_full("reag-3b"),
                "ReAG-3B full pipeline: EVA-CLIP top 20 + crop, ReAG-Critic thr 0.1, reasoning prompt "
                "(paper: EVQA 41.3 SH / 42.9 all, InfoSeek 43.3)", ("reag-3b-coarse-critic-crop",)),
    "reag-7b": (reag_full("reag-7b"),
                "ReAG-7B full pipeline: EVA-CLIP top 20 + crop, ReAG-Critic thr 0.1, reasoning prompt "
                "(paper: EVQA 44.9 SH / 47.0 all, InfoSeek 47.2)", ()),
    "qwen2.5-vl-3b-zero-shot": (preset("qwen2.5-vl-3b", NO_RETRIEVAL, NO_CRITIC, ["direct", {}]),
                                "Baseline: Qwen2.5-VL-3B-Instruct, no retrieval, VQA_PROMPT (paper: EVQA SH 21.9, "
                                "InfoSeek 18.3; the paper does not give its prompt); also the ablation's zero-shot row",
                                ("ablation-3b-zero-shot",)),
    "qwen2.5-vl-7b-zero-shot": (preset("qwen2.5-vl-7b", NO_RETRIEVAL, NO_CRITIC, ["direct", {}]),
                                "Baseline: Qwen2.5-VL-7B-Instruct, no retrieval, VQA_PROMPT (paper: EVQA SH 23.6, "
                                "InfoSeek 23.7; the paper does not give its prompt)", ()),
    # The 3B ablation rows (the paper's ablation table, docs/presets.md). Reading: the rows before "full" use the
    # base Qwen2.5-VL-3B generator with a plain prompt; "full" (= reag-3b) adds the SFT+GRPO
    # generator and its reasoning prompt. The zero-shot row equals the Qwen2.5-VL-3B baseline.
    "ablation-3b-coarse": (preset("qwen2.5-vl-3b", coarse(), NO_CRITIC, PLAIN),
                           "Ablation row 'coarse retrieval only' (paper 19.2 / 10.1): Qwen2.5-VL-3B, EVA-CLIP top 20, "
                           "every passage in context, plain prompt (generator is our reading of the paper)", ()),
    "ablation-3b-coarse-critic": (preset("qwen2.5-vl-3b", coarse(), REAG_CRITIC, PLAIN),
                                  "Ablation row '+ critic' (paper 38.0 / 27.0): as ablation-3b-coarse + "
                                  "ReAG-Critic thr 0.1 (generator is our reading of the paper)", ()),
    "ablation-3b-coarse-critic-crop": (preset("qwen2.5-vl-3b", coarse(crop=True), REAG_CRITIC, PLAIN),
                                       "Ablation row '+ fine (crop)' (paper 40.2 / 27.1): as "
                                       "ablation-3b-coarse-critic + query-image crop (generator is our reading); "
                                       "the 'full' row is reag-3b", ()),
    # The same components removed from the full ReAG-3B pipeline (not paper rows).
    "reag-3b-zero-shot": (preset("reag-3b", NO_RETRIEVAL, NO_CRITIC, REASONING),
                          "ReAG-3B without retrieval: reasoning prompt around VQA_PROMPT (not a paper row)", ()),
    "reag-3b-coarse": (preset("reag-3b", coarse(), NO_CRITIC, REASONING),
                       "ReAG-3B, EVA-CLIP top 20 without crop, no critic, reasoning prompt (not a paper row)", ()),
    "reag-3b-coarse-critic": (preset("reag-3b", coarse(), REAG_CRITIC, REASONING),
                              "ReAG-3B, EVA-CLIP top 20 without crop, ReAG-Critic thr 0.1, reasoning prompt "
                              "(not a paper row; + crop is reag-3b)", ()),
    # Retrieval variants of the reference (--use_oracle, --use_oracle_passage, --use_google_lens).
    "reag-7b-oracle-pages": (preset("reag-7b", ["oracle-page", {}], REAG_CRITIC, REASONING),
                             "ReAG-7B on the gold page(s), critic on as in the released scripts (paper: 81.5 EVQA SH "
                             "/ 59.7 InfoSeek; the paper does not say whether the critic ran)", ()),
    "reag-3b-oracle-pages": (preset("reag-3b", ["oracle-page", {}], REAG_CRITIC, REASONING),
                             "ReAG-3B on the gold page(s), critic on (no paper number)", ()),
    "reag-7b-oracle-passage": (preset("reag-7b", ["oracle-passage", {}], REAG_CRITIC, REASONING),
                               "ReAG-7B on the gold passage only (--use_oracle_passage), critic on", ()),
    "reag-3b-google-lens": (preset("reag-3b", ["google-lens", {"top_k": TOP_K}], REAG_CRITIC, REASONING),
                            "EVQA only: ReAG-3B on the Google Lens pages (top 20), critic thr 0.1", ()),
    "reag-7b-google-lens": (preset("reag-7b", ["google-lens", {"top_k": TOP_K}], REAG_CRITIC, REASONING),
                            "EVQA only: ReAG-7B on the Google Lens pages (top 20), critic thr 0.1", ()),
    # Published baselines on other model families (leaderboard/published.json names them in "preset").
    "llava-1.5-7b-zero-shot": (zero_shot(hf_vlm("llava-hf/llava-1.5-7b-hf")),
                               "Baseline: LLaVA-1.5-7B (Vicuna, llava-hf transformers port), no retrieval, "
                               "VQA_PROMPT (published: EVQA SH 16.3, InfoSeek 9.5; their prompt is not given)", ()),
    "blip-2-zero-shot": (zero_shot(hf_vlm("Salesforce/blip2-flan-t5-xl"), ["only-question", {}]),
                         "Baseline: BLIP-2 Flan-T5-XL, no retrieval, the bare question in BLIP-2's 'Question: ... "
                         "Answer:' format (published: EVQA SH 12.6, InfoSeek 12.5)", ()),
    "gpt-4v-zero-shot": (zero_shot(["openai", {"model": GPT4V_MODEL}]),
                         f"Baseline: GPT-4 with vision through the OpenAI API ({GPT4V_MODEL}; gpt-4-vision-preview "
                         "is retired), no retrieval, VQA_PROMPT; needs OPENAI_API_KEY (published GPT-4V: EVQA SH "
                         "26.9, InfoSeek 14.6)", ()),
    "qwen2-vl-7b-zero-shot": (zero_shot(hf_vlm("Qwen/Qwen2-VL-7B-Instruct")),
                              "Baseline: Qwen2-VL-7B-Instruct, no retrieval, VQA_PROMPT (the base model of the "
                              "MMKB-RAG and CoRe-MMRAG rows; no published zero-shot number)", ()),
    "internvl3-8b-zero-shot": (zero_shot(hf_vlm("OpenGVLab/InternVL3-8B-hf")),
                               "Baseline: InternVL3-8B (HF format), no retrieval, VQA_PROMPT (the base model of a "
                               "VLM-PRF row; no published zero-shot number)", ()),
    "llama-3.1-8b-text-eva-clip-top5": (
        preset(["hf-llm", {"pretrained": "meta-llama/Llama-3.1-8B-Instruct"}],
               eva_clip(top_k=5, crop=False), NO_CRITIC,
               ["direct", {"text_only": True, "all_filtered": True}]),
        "Text-only LLaMA-3.1-8B-Instruct over every passage of the EVA-CLIP top 5 pages, greedy, no reranker "
        "(NOT EchoSight's published setting: that is the 'echosight' preset; no published number)",
        ("llama-3.1-8b-text-eva-clip",)),  # the old name, kept working: it never was EchoSight as published
    "echosight": (preset(["hf-llm", {"pretrained": "meta-llama/Llama-3.1-8B-Instruct", "max_new_tokens": 128,
                                     "do_sample": True, "temperature": ECHOSIGHT_TEMPERATURE, "top_p": 0.9}],
                         eva_clip(top_k=20, crop=False),
                         ["qformer-reranker", {"top_n": 1, "fusion": 0.5}],
                         ["echosight", {}]),
                  "EchoSight's published pipeline (Go2Heart/EchoSight): EVA-CLIP image retrieval (top 20 rows), "
                  "BLIP-2 Q-Former section reranker (reranker.pth: --critic-args checkpoint=PATH) fused 0.5 visual + "
                  "0.5 Q-Former, the top section only, 'Context / Question / The answer is:' prompt, text-only "
                  "LLaMA-3.1-8B-Instruct (the published re-implementation's LLM; EchoSight used LLaMA-3-8B or "
                  "Mistral-7B) sampling at T=0.6, top_p 0.9 (published re-impl.: EVQA SH 26.4, InfoSeek 18.8)", ()),
    "reflectiva": (preset("reflectiva", eva_clip(top_k=REFLECTIVA_ENTITY_K, crop=False),
                          ["reflectiva-rel", {"threshold": 0.5, "fallback": "random"}], ["reflectiva", {}]),
                   "ReflectiVA (aimagelab/ReflectiVA): [RET] gate, EVA-CLIP-8B entity_k=5 pages, [REL] critic per "
                   "passage (p_yes=P([REL]) > 0.5), a seeded random passage when none is kept, 'Give a short "
                   "answer.' prompt; greedy (the reference samples at T=0.2: --generator-args temperature=0.2) "
                   "(published: EVQA SH 35.5, InfoSeek 40.1)", ()),
    "reflectiva-sampled": (preset(["reflectiva", {"temperature": 0.2}],
                                  eva_clip(top_k=REFLECTIVA_ENTITY_K, crop=False),
                                  ["reflectiva-rel", {"threshold": 0.5, "fallback": "random"}], ["reflectiva", {}]),
                           "ReflectiVA with the reference's sampling (T=0.2, seeded by --seed; recorded in "
                           "runtime_facts.generator.sampling)", ()),
    "qwen2.5-vl-7b-eva-clip-top5": (preset("qwen2.5-vl-7b", eva_clip(top_k=5, crop=False), NO_CRITIC,
                                           ["direct", {"all_filtered": True}]),
                                    "CC-VQA's baseline 'Qwen2.5-VL-7B + EVA-CLIP-8B' (CC-VQA README: 36.7 / 31.2 / "
                                    "41.8): Qwen2.5-VL-7B-Instruct over the passages of the EVA-CLIP top 5 pages; "
                                    "CC-VQA does not publish its k, prompt or decoding (our reading: k=5 as "
                                    "EchoSight/ReflectiVA, VQA_PROMPT, greedy)", ()),
    "qwen2.5-vl-7b-eva-clip-reag-critic": (preset("qwen2.5-vl-7b", coarse(), REAG_CRITIC, PLAIN),
                                           "Critic without the ReAG generator: Qwen2.5-VL-7B-Instruct over EVA-CLIP "
                                           "top 20 pages filtered by ReAG-Critic thr 0.1, plain prompt (no "
                                           "published number)", ()),
    # Other papers' retrieval settings (docs/retrieval.md).
    "wiki-llava-retrieval": (preset("qwen2.5-vl-7b", WIKI_LLAVA_CHAIN, NO_CRITIC, ["direct", {}]),
                             "Wiki-LLaVA's hierarchical retrieval: CLIP ViT-L/14 image -> page titles (top 1), then "
                             "Contriever passages inside the page (top 3); generator Qwen2.5-VL-7B stands in for "
                             "its LLaVA-1.5 (pass --generator)", ()),
}


@hookimpl
def register_presets(register):
    for name, (config, description, aliases) in PRESETS.items():
        register(name, config, aliases=aliases, description=description)
