"""Built-in prompt styles (the ReAG reference's prompts, verbatim in reag_harness.prompts.reag)."""

from __future__ import annotations

from reag_harness.hookspecs import hookimpl

_P = "reag_harness.plugins.prompt_styles"


@hookimpl
def register_prompt_styles(register):
    register("reag-reasoning", f"{_P}.reag_reasoning:ReagReasoning",
             description="R1-style system prompt, <think> forced, stop at </answer> (ReAG)")
    register("few-shot", f"{_P}.few_shot:FewShot", description="ReAG's few-shot prefix (InfoSeek 3, EVQA 2)")
    register("short", f"{_P}.short:ShortAnswer", description="Appends 'Give a short answer. Short answer:'")
    register("direct", f"{_P}.direct:Direct",
             description="No retrieval prompt: 'Answer the question based on the image above.' + question")
    register("reflectiva", f"{_P}.reflectiva:ReflectiVAPrompt",
             description="ReflectiVA: 'Consider this paragraph: <paragraph>...</paragraph>. Give a short answer.'")
    register("echosight", f"{_P}.echosight:EchoSightPrompt",
             description="EchoSight: 'Context: <section>\\nQuestion: ...\\nThe answer is:' (text only)")
    register("only-question", f"{_P}.direct:OnlyQuestion", description="The bare question")
