"""ReAG coarse retrieval: EVA-CLIP image embedding + FAISS index of KB pages (docs/retrieval.md).

``top_k`` counts index rows, as the reference does. Without crop, the ``top_k`` rows are
de-duplicated by page (best score kept), so a retrieval has *at most* ``top_k`` pages: fewer
when a page owns several rows (the EVQA image index has several images per page). With
``crop=True``, ``top_k`` rows are retrieved for the full image and ``top_k`` for the crop, merged
into page -> max score, sorted by score and cut to ``top_k`` unique pages (:func:`merge_hits`).
``raw_hits`` keeps the full image's rows before de-duplication (the crop's rows are in
``info["crop"]["hits"]``).

All queries of a call are encoded in batches and searched in one FAISS call; query embeddings
are cached in memory per (image file, encoder). The parts live in ``reag_harness.data.retrieval``:
``page_hits`` (merging, passages), ``query_cache`` (embeddings), ``title_index`` (``index=titles``)
and ``encoder_checks`` (pre-flight).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from reag_harness.core.errors import HarnessError, InputError
from reag_harness.data.retrieval.cache_keys import digest
from reag_harness.data.retrieval.encoder_checks import encoder_problems
from reag_harness.data.retrieval.faiss_index import FaissIndex, index_identity, load_index
from reag_harness.data.retrieval.page_hits import jsonable, merge_hits, page_retrieval
from reag_harness.data.retrieval.query_cache import embed_crops, embed_image_files
from reag_harness.data.retrieval.title_index import TITLE_INDEX_VERSION, TITLES_INDEX, build_title_index
from reag_harness.interfaces import Component, KnowledgeBase, Runtime
from reag_harness.models.clip_encoders import EVA_CLIP_8B, ClipEncoder, _torch_dtype, checkpoint_identity
from reag_harness.models.clip_loader import load_encoder
from reag_harness.records import Retrieval, Sample


class EvaClipRetriever(Component):
    """Image -> KB pages through a FAISS index in the released layout (``knn.index`` + ``knn.json``).

    ``model="BAAI/EVA-CLIP-8B"`` (``pretrained`` = a local copy of the hub folder) is the encoder the released
    indexes were built with: ``encoder="native"`` (the default) runs it with the project's own implementation
    (:mod:`reag_harness.models.eva_clip_native`, no remote code); ``encoder="transformers"`` runs the hub's
    remote code and needs ``trust_remote_code=true``. ``pretrained=tiny:eva-clip-8b`` is a tiny random
    checkpoint of that architecture in the hub layout (tests, demo).
    ``encoder="open_clip"`` takes any open_clip model name and ``pretrained`` file or tag.
    ``crop=True`` crops the query image to the question's entity (``reag_harness.models.crop``) with
    ``crop_args``; ``cropper`` injects a ready cropper object (tests).
    """

    name = "eva-clip"
    version = "1"
    #: Deliberate differences from the ReAG reference, recorded in every run's results.
    deviations = [
        "retrieval: pages de-duplicated keeping the best score (top_k still counts index rows; raw hits recorded)",
        "retrieval: image encoding and FAISS search batched across queries",
        "crop: no visual entity or no box -> full image with the reason recorded (reference: answer 'Error')",
    ]

    def __init__(
        self,
        runtime: Runtime,
        index: str | None = None,
        encoder: str = "native",
        model: str = EVA_CLIP_8B,
        pretrained: str | None = None,
        top_k: int = 20,
        crop: bool = False,
        crop_args: dict[str, Any] | None = None,
        trust_remote_code: bool = False,
        batch_size: int | None = None,
        dtype: str | None = None,
        preprocess: str = "pil",
        mmap: bool = True,
        cropper: Any = None,
    ) -> None:
        from reag_harness.models.tiny.eva_clip_8b import resolve_tiny

        pretrained = resolve_tiny(pretrained)
        super().__init__(runtime, index=index, encoder=encoder, model=model, pretrained=pretrained, top_k=top_k,
                         crop=crop, crop_args=crop_args or {}, trust_remote_code=trust_remote_code,
                         batch_size=batch_size, dtype=dtype, preprocess=preprocess, mmap=mmap)
        if int(top_k) < 1:
            raise HarnessError(f"retriever {self.name}: top_k must be at least 1, got {top_k}")
        self.index_dir = index
        self.encoder_backend, self.model, self.pretrained = encoder, model, pretrained
        self.top_k, self.crop = int(top_k), bool(crop)
        self.crop_args = dict(crop_args or {})
        self.trust_remote_code, self.dtype, self.preprocess, self.mmap = trust_remote_code, dtype, preprocess, mmap
        rb = runtime.batch_size
        self.batch_size = int(batch_size or (rb if isinstance(rb, int) else 32))
        self._cropper = cropper
        self._encoder: ClipEncoder | None = None
        self._index: FaissIndex | None = None

    # -- identity ------------------------------------------------------------------------------
    def encoder_identity(self) -> dict[str, Any]:
        """The encoder's identity without loading it (checkpoint by size/mtime hash or hub id)."""
        ident = {"backend": self.encoder_backend, "model": self.model, "pretrained": self.pretrained,
                 "checkpoint": checkpoint_identity(self.pretrained or self.model),
                 "dtype": str(_torch_dtype(self.dtype, self.runtime.device)).replace("torch.", "")}
        if self.encoder_backend in ("transformers", "native"):
            ident["preprocess"] = f"clip-l14-{self.preprocess}-224"
        if ident["dtype"] == "float16":
            ident["l2"] = "fp16-as-reference"  # fp16 outputs are normalised in fp16 (clip_encoders._l2)
        return ident

    def index_identity(self) -> dict[str, Any]:
        if self.index_dir == TITLES_INDEX:
            return {"built_from": "kb page titles (text tower)", "builder": TITLE_INDEX_VERSION}
        if not self.index_dir:
            raise HarnessError(f"retriever {self.name}: no index given (index=DIR with knn.index + knn.json, "
                               f"or index={TITLES_INDEX} to build one over the KB's page titles)")
        return index_identity(self.index_dir)

    def identity(self) -> dict[str, Any]:
        args = {k: v for k, v in self.args.items() if k not in ("batch_size", "mmap")}
        ident = {"name": self.name, "version": self.version, "args": args,
                 "encoder": self.encoder_identity(), "index": self.index_identity()}
        if self.crop:
            cropper = self._get_cropper()
            ident["cropper"] = cropper.identity() if hasattr(cropper, "identity") else type(cropper).__name__
        return ident

    # -- data checks ---------------------------------------------------------------------------
    def data_checks(self) -> list[Any]:
        """Its index readable, rows = keys, dimension = the encoder's (from its config, no weights)."""
        from reag_harness.data.check import FAIL, SKIP, Check, index_check
        from reag_harness.models.clip_loader import encoder_dim

        if self.index_dir == TITLES_INDEX:
            return [Check(f"retriever {self.name}", SKIP, "index built on first use from the KB's page titles")]
        if not self.index_dir:  # retrieval would stop at its first question: a failure, not a skip
            return [Check(f"retriever {self.name} index", FAIL, "no index given: pass index=DIR (knn.index + "
                          f"knn.json; --retriever-args index=DIR or --task-args index=DIR), or index={TITLES_INDEX} "
                          "to build one over the KB's page titles")]
        try:
            dim = encoder_dim(self.encoder_backend, self.model, self.pretrained)
        except Exception:  # noqa: BLE001 - an unknown model is reported when it loads
            dim = None
        check = index_check(self.index_dir, dim, f"{self.encoder_backend}:{self.model}")
        check.name = f"retriever {self.name} index"
        return [check]

    def preflight(self) -> list[str]:
        """Its index against its encoder (:meth:`data_checks`), remote code allowed, and the models it will
        load (:meth:`model_problems`)."""
        from reag_harness.data.check import failures

        problems = failures(self.data_checks())
        if self.encoder_backend == "transformers" and not self.trust_remote_code:
            from reag_harness.models.clip_backends import _remote_code_error

            problems.append(str(_remote_code_error(self.pretrained or self.model)))  # reported with the others
        return problems + self.model_problems()

    def model_problems(self) -> list[str]:
        """The encoder's folder (or cache entry offline), config and weight files (remote code is not run;
        :func:`~reag_harness.data.retrieval.encoder_checks.encoder_problems`); with ``crop``: a detector that cannot
        load offline or whose weights do not match its config, a missing spaCy pipeline (BRIEF contract 2)."""
        problems = encoder_problems(self.encoder_backend, self.model, self.pretrained)
        if not self.crop or self._cropper is not None:
            return problems
        from reag_harness.models.crop import DEFAULT_DETECTOR, detector_problem, spacy_problem

        detector = self.crop_args.get("detector", DEFAULT_DETECTOR)
        if isinstance(detector, str) and (why := detector_problem(detector)):
            problems.append(why)
        spacy_model = self.crop_args.get("spacy_model", "en_core_web_sm")
        if isinstance(spacy_model, str) and (why := spacy_problem(spacy_model)):
            problems.append(why)
        return problems

    # -- lazy parts ----------------------------------------------------------------------------
    def encoder(self) -> ClipEncoder:
        if self._encoder is None:
            self._encoder = load_encoder(self.encoder_backend, self.model, self.pretrained, self.runtime.device,
                                         self.dtype, self.batch_size, self.trust_remote_code, self.preprocess)
        return self._encoder

    def index(self, kb: KnowledgeBase) -> FaissIndex:
        if self._index is None and self.index_dir == TITLES_INDEX:
            self._index = build_title_index(kb, name=self.name, encoder_identity=self.encoder_identity(),
                                            encoder=self.encoder, batch_size=self.batch_size,
                                            device=self.runtime.device, mmap=self.mmap)
        if self._index is None:
            if not self.index_dir:
                raise HarnessError(f"retriever {self.name}: no index given (index=DIR with knn.index + knn.json)")
            self._index = load_index(self.index_dir, self.runtime.device, self.mmap)
            built_with = self._index.meta.get("encoder", {})
            same_weights = {"transformers", "native"}  # EVA-CLIP-8B's hub weights, remote or native code
            backends = {built_with.get("backend"), self.encoder_backend}
            if built_with and (built_with.get("model") != self.model
                               or (len(backends) > 1 and not backends <= same_weights)):
                warnings.warn(f"index {self.index_dir} was built with {built_with.get('backend')}:"
                              f"{built_with.get('model')}, queries use {self.encoder_backend}:{self.model}",
                              stacklevel=2)
        return self._index

    def _get_cropper(self) -> Any:
        if self._cropper is None:
            try:
                from reag_harness.models.crop import QueryCropper
            except ImportError as exc:
                raise HarnessError(f"retriever {self.name}: crop=true needs reag_harness.models.crop ({exc})") from exc
            self._cropper = QueryCropper(self.runtime, **self.crop_args)
        return self._cropper

    # -- embeddings ----------------------------------------------------------------------------
    def _encoder_key(self) -> str:
        return digest(self.encoder_identity())

    def embed_images(self, paths: Sequence[str]) -> np.ndarray:
        """Embeddings of image files (cached per file and encoder); images loaded batch by batch."""
        return embed_image_files(self.encoder(), self._encoder_key(), paths, self.batch_size)

    def _embed_crops(self, paths: Sequence[str], crops: Sequence[Any]) -> np.ndarray:
        return embed_crops(self.encoder(), self._encoder_key(), paths, crops, self.batch_size)

    # -- retrieval -----------------------------------------------------------------------------
    def retrieve(self, samples: Sequence[Sample], kb: KnowledgeBase) -> list[Retrieval]:
        if not samples:
            return []
        paths = []
        for s in samples:
            if not s.image:
                raise InputError(f"sample {s.id}", "has no image (image retrieval needs one)", field="image")
            if not Path(s.image).is_file():
                raise InputError(s.image, "image file not found", field="image")
            paths.append(s.image)
        index = self.index(kb)
        queries = self.embed_images(paths)
        crop_results: list[Any] = [None] * len(samples)
        cropped: list[int] = []
        if self.crop:
            crop_results = list(self._get_cropper().crop(samples))
            if len(crop_results) != len(samples):
                raise HarnessError(f"cropper returned {len(crop_results)} results for {len(samples)} samples")
            cropped = [i for i, c in enumerate(crop_results) if getattr(c, "image", None) is not None]
            if cropped:
                crop_vecs = self._embed_crops([paths[i] for i in cropped], [crop_results[i] for i in cropped])
                queries = np.concatenate([queries, crop_vecs], axis=0)
        hits = index.search(queries, self.top_k)  # one batched search for full images and crops
        crop_hits = {i: hits[len(samples) + j] for j, i in enumerate(cropped)}
        out = []
        for i, sample in enumerate(samples):
            full = hits[i]
            pages = merge_hits(full, crop_hits.get(i, ()), self.top_k)
            info: dict[str, Any] = {"top_k_rows": self.top_k, "n_pages": len(pages)}
            if self.crop:
                c = crop_results[i]
                info["crop"] = {
                    "used": i in crop_hits,
                    "box": jsonable(getattr(c, "box", None)),
                    "entity": getattr(c, "entity", None),
                    "reason": getattr(c, "reason", None),
                    "hits": [[k, s] for k, s in crop_hits.get(i, ())],
                }
            out.append(page_retrieval(sample.id, pages, full, info, kb))
        return out


# -- the tiny demo/test retriever ---------------------------------------------------------------


class TinyEvaClipRetriever(EvaClipRetriever):
    """``eva-clip`` over the tiny random open_clip EVA model (tests, demo).

    Without ``index``, a demo index is built on first use from the KB's page *titles* encoded
    with the tiny model's text tower (one row per page), cached under ``cache_dir()/indexes``
    keyed by the KB fingerprint and the model identity. It exercises the whole path (image
    encoding, FAISS, de-duplication, passages) but is not the ReAG setup, and the tiny model's
    scores are meaningless.
    """

    name = "tiny-eva-clip"

    def __init__(self, runtime: Runtime, **args: Any) -> None:
        args["index"] = args.get("index") or TITLES_INDEX
        super().__init__(runtime, **args)


def tiny_eva_clip(runtime: Runtime, seed: int = 0, **args: Any) -> TinyEvaClipRetriever:
    """``tiny-eva-clip``: the tiny model is built on first use; ``index`` optional (see the class)."""
    from reag_harness.models.tiny.clip import TINY_MODEL, tiny_clip_checkpoint

    for fixed in ("encoder", "model", "pretrained", "trust_remote_code"):
        if fixed in args:
            raise HarnessError(f"retriever tiny-eva-clip: '{fixed}' is fixed (use eva-clip to choose an encoder)")
    ckpt = tiny_clip_checkpoint(seed)
    return TinyEvaClipRetriever(runtime, encoder="open_clip", model=TINY_MODEL, pretrained=str(ckpt), **args)


tiny_eva_clip.forwards_to = TinyEvaClipRetriever  # its **args are the retriever's (presets carry crop, top_k)
