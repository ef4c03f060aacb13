"""Tiny checkpoints built offline (random weights, small configs, trained tokenizers, the families' real chat
templates) for tests, the demo and benchmarks; ``tiny:NAME`` resolves to one of them.

Fixtures, not backends: a model author's code lives one folder up. Imports the core, prompts and the
architecture modules of ``models`` it builds checkpoints for.
"""
