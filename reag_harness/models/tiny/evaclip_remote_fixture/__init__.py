"""Remote code in the style of the published EVA-CLIP-8B hub files (``configuration_evaclip.py``,
``modeling_evaclip.py``), written for the project's tests: :mod:`reag_harness.models.tiny.eva_clip_8b` copies these
two files into a tiny hub-layout checkpoint, which transformers then loads with ``trust_remote_code=True``.

It is an independent implementation (plain ``bmm`` attention with additive ``finfo.min`` masks, as published)
with the published state-dict layout, config defaults and both pathologies of the published code under
transformers 5: ``position_ids`` registered as non-persistent buffers in ``__init__``, and an ``_init_weights``
that writes through ``.data`` (so it is not guarded by transformers' "already loaded" flags).
Nothing imports this package; it is data for the tiny builder.
"""
