"""``clip``: image -> KB pages with any CLIP-style encoder and a FAISS index in the released layout.

The same retriever as ``eva-clip`` (batched encoding, one FAISS search, page de-duplication,
optional crop), with the encoder chosen freely:

- ``encoder=open_clip`` (default): any open_clip model, ``model=ViT-L-14,pretrained=PATH_OR_TAG``,
  SigLIP included (``model=ViT-SO400M-14-SigLIP-384,pretrained=webli``; hub tags need the model in
  the local cache);
- ``encoder=hf``: a transformers CLIP / SigLIP checkpoint (``model=openai/clip-vit-large-patch14`` or a
  local folder; ``AutoModel`` + ``AutoProcessor``, no remote code);
- ``encoder=transformers``: EVA-CLIP-8B's remote code, as ``eva-clip``.

``index=DIR`` is a folder built by ``reag-eval index build`` with the same encoder (``--source images``:
image -> image; ``--source summaries`` or ``titles``: image -> text of the page); ``index=titles``
builds a title index on first use (the demo). Wiki-LLaVA's page retrieval is ``clip`` with
``model=ViT-L-14`` (OpenAI CLIP) over the page titles.
"""

from __future__ import annotations

from typing import Any

from reag_harness.core.errors import HarnessError
from reag_harness.core.versions import doc_ref
from reag_harness.interfaces import Runtime

from .eva_clip import EvaClipRetriever


class ClipRetriever(EvaClipRetriever):
    """Image -> pages through a FAISS index, any CLIP-style encoder (open_clip by default)."""

    name = "clip"

    def __init__(self, runtime: Runtime, model: str = "", pretrained: str | None = None, encoder: str = "open_clip",
                 **args: Any) -> None:
        if not model:
            raise HarnessError("retriever clip needs model=NAME_OR_PATH (an open_clip model name such as ViT-L-14, or "
                               f"with encoder=hf a transformers CLIP/SigLIP checkpoint); see {doc_ref('retrieval.md')}")
        super().__init__(runtime, encoder=encoder, model=model, pretrained=pretrained, **args)
