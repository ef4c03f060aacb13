"""Prompt texts and prompt length: the ReAG and ReflectiVA reference strings, and the prompt-length policy.

Beside the core at the bottom of the layers: models (the tiny fixtures' chat templates), plugins
(prompt styles, critics) and the pipeline import it; it imports only the contract modules.
"""
