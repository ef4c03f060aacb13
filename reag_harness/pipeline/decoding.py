"""What the generator's decoding was, for results.json (``runtime_facts.decoding``): sampling is always recorded.

A generator that reports ``runtime_facts()["sampling"]`` (ReflectiVA) is taken at its word; for the
others the sampling arguments given to it (``do_sample``, ``temperature``, ``top_p``, ``top_k``)
are read from its arguments. The run seed seeds any sampling.
"""

from __future__ import annotations

from typing import Any

SAMPLING_ARGS = ("do_sample", "temperature", "top_p", "top_k")


def decoding_facts(generator: Any, seed: int) -> dict[str, Any]:
    facts_fn = getattr(generator, "runtime_facts", None)
    own = facts_fn().get("sampling") if callable(facts_fn) else None
    if isinstance(own, dict):
        return dict(own)
    args = dict(getattr(generator, "gen_kwargs", None) or {}) or dict(getattr(generator, "args", None) or {})
    given = {k: args[k] for k in SAMPLING_ARGS if k in args}
    if "do_sample" not in given:  # the checkpoint's generation_config.json decides
        return {"do_sample": None, **given, "seed": seed,
                "source": "the checkpoint's generation config (no do_sample argument given)"}
    return {**given, "seed": seed if given["do_sample"] else None, "source": "generator arguments"}
