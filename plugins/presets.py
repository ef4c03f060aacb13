"""Named pipeline configurations: the ReAG paper's full setting and its ablations.

A preset named like a generator applies when that generator is chosen alone
(``reag-eval --task infoseek --generator reag-7b``). Explicit CLI components override it.
"""

from __future__ import annotations

from reag_harness.hookspecs import hookimpl


def reag_full(generator: str) -> dict:
    """The paper's configuration (both released scripts)."""
    return {
        "generator": [generator, {}],
        "retriever": ["eva-clip", {"top_k": 20, "crop": True}],
        "critic": ["reag-critic", {"threshold": 0.1}],
        "prompt_style": ["reag-reasoning", {"all_filtered": True}],
    }


@hookimpl
def register_presets(register):
    register("reag-3b", reag_full("reag-3b"),
             description="ReAG-3B full pipeline: EVA-CLIP top 20 + crop, ReAG-Critic thr 0.1, reasoning prompt")
    register("reag-7b", reag_full("reag-7b"),
             description="ReAG-7B full pipeline: EVA-CLIP top 20 + crop, ReAG-Critic thr 0.1, reasoning prompt")
