"""Built-in retrievers: one file each, registered here exactly as a third-party plugin would."""

from __future__ import annotations

from reag_harness.hookspecs import hookimpl

_P = "reag_harness.plugins.retrievers"


@hookimpl
def register_retrievers(register):
    register("none", f"{_P}.none:NoRetriever", description="No retrieval (zero-shot baseline)")
    register("eva-clip", f"{_P}.eva_clip:EvaClipRetriever",
             description="EVA-CLIP image encoder + FAISS index of KB pages (ReAG coarse retrieval, optional crop)")
    register("tiny-eva-clip", f"{_P}.eva_clip:tiny_eva_clip",
             description="eva-clip with a tiny random open_clip EVA model built on first use (tests, demo)")
    register("oracle-page", f"{_P}.oracle:OraclePageRetriever",
             description="All passages of the gold page(s)")
    register("oracle-passage", f"{_P}.oracle:OraclePassageRetriever",
             description="Only the gold passage (EVQA evidence_section_id, InfoSeek passage_id)")
    register("google-lens", f"{_P}.google_lens:GoogleLensRetriever",
             description="EVQA Google Lens entities (lens_entities.csv)")
    register("clip", f"{_P}.clip:ClipRetriever",
             description="any open_clip (SigLIP too) or transformers CLIP/SigLIP encoder + FAISS index of KB pages")
    register("bm25", f"{_P}.bm25:Bm25Retriever",
             description="BM25 (bm25s) over KB passages, text query from the question")
    register("dense-text", f"{_P}.dense_text:DenseTextRetriever",
             description="sentence-transformers bi-encoder over KB passages (default all-MiniLM-L6-v2)")
    register("precomputed", f"{_P}.precomputed:PrecomputedRetriever",
             description="rankings per question id from a file (ours, EchoSight's, knn row ids)")
    register("chain", f"{_P}.chain:ChainRetriever",
             description="a page retriever, then a passage retriever inside those pages (pages=...,passages=...)")
