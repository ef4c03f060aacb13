"""BEM (BERT answer equivalence) through TensorFlow, built exactly as the official EVQA code, but batched.

Reproduces ``initialize_bem_scoring_function`` of google-research ``encyclopedic_vqa/evaluation_utils.py``:
a ``StaticVocabularyTable`` over the vocab file (one OOV bucket), tensorflow-text's
``BertTokenizer(lower_case=True, preserve_unused_token=True)``, the input
``[CLS] candidate [SEP] reference [SEP] question [SEP]`` with segment ids 0 / 1 / 2, zero-padded to
512, the model called as ``model({"input_ids": int64[B, 512], "segment_ids": int64[B, 512]})`` and the
score ``softmax(logits)[1]`` (float32, as ``scipy.special.softmax`` computes it). The caller applies
``>= 0.5``. TensorFlow is imported on first use only; nothing is downloaded at import time.

Over-512 policy (the official code crashes): the candidate's word pieces are cut from the end until
the input fits, then the question's, then the reference's; :meth:`BemScorer.scores_with_info`
reports which inputs were cut.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reag_harness.core.errors import HarnessError, MissingDependencyError
from reag_harness.models.bem_tensorflow import INSTALL_HINT, require_tensorflow

__all__ = ["OFFICIAL_BEM_HANDLE", "OFFICIAL_VOCAB", "BemScorer", "bem_preflight"]

OFFICIAL_BEM_HANDLE = "https://tfhub.dev/google/answer_equivalence/bem/1"
OFFICIAL_VOCAB = "gs://cloud-tpu-checkpoints/bert/keras_bert/uncased_L-12_H-768_A-12/vocab.txt"
MAX_LENGTH = 512
_OFFLINE_HINT = (
    "pass a local SavedModel directory with --bem-model DIR (task argument bem_model=DIR) and a local vocab file "
    "with --bem-vocab FILE (bem_vocab=FILE), or unpack the model into "
    "$TFHUB_CACHE_DIR/8c79027db3c48563b1b91f255e6259f44b118a73/; or score without BEM with --no-bem (no_bem=true, "
    "exact match only, a lower bound); or allow the download with --bem-download (bem_download=true)"
)


TINY_BEM = "tiny"


def resolve_bem(model: str | None, vocab: str | None) -> tuple[str, str]:
    """``(model, vocab)`` with the official defaults; ``model="tiny"`` builds the tiny offline BEM
    (random weights, meaningless scores: a smoke test of the BEM path) and takes its vocab."""
    if model == TINY_BEM:
        from reag_harness.core.paths import cache_dir
        from reag_harness.models.tiny.bem import build_tiny_bem

        tiny_model, tiny_vocab = build_tiny_bem(cache_dir() / "tiny_bem")
        return str(tiny_model), vocab or str(tiny_vocab)
    return model or OFFICIAL_BEM_HANDLE, vocab or OFFICIAL_VOCAB


def _hub_cache_dir(handle: str) -> Path:
    """Where tensorflow-hub keeps a downloaded handle ($TFHUB_CACHE_DIR, else <tmp>/tfhub_modules)."""
    import tempfile

    root = os.environ.get("TFHUB_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "tfhub_modules")
    return Path(root) / hashlib.sha1(handle.encode()).hexdigest()


def _vocab_cache_path(url: str) -> Path:
    from reag_harness.core.paths import cache_dir

    return cache_dir() / "bem" / f"vocab-{hashlib.sha1(url.encode()).hexdigest()[:16]}.txt"


def _have_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def bem_preflight(model: str | None = None, vocab: str | None = None, *, allow_download: bool = False,
                  no_bem: bool = False) -> list[str]:
    """What BEM scoring needs and is missing, one line each (cheap: no TensorFlow import, no network).

    A remote model or vocab counts as available when it is already in its cache, or when the user
    opted in to downloading it (``allow_download``); nothing is ever downloaded without that opt-in.
    """
    if no_bem:
        return []
    problems = []
    missing = [m for m in ("tensorflow", "tensorflow_text") if not _have_module(m)]
    if missing:
        problems.append(f"BEM scoring needs {' and '.join(missing)}: {INSTALL_HINT}, or pass --no-bem (no_bem=true) "
                        "for exact match only")
    tiny = model == TINY_BEM  # built offline on first use, with its own vocab unless one is given
    model = model or OFFICIAL_BEM_HANDLE
    if tiny:
        pass
    elif _is_remote(model):
        if not (_hub_cache_dir(model) / "saved_model.pb").is_file() and not allow_download:
            problems.append(f"BEM model {model} is not available offline and downloading it was not allowed: "
                            f"{_OFFLINE_HINT}")
        elif not _have_module("tensorflow_hub"):
            problems.append(f"loading the BEM model {model} needs tensorflow-hub: {INSTALL_HINT}")
    elif not (Path(model) / "saved_model.pb").is_file():
        problems.append(f"BEM model directory {model} has no saved_model.pb: pass a SavedModel directory with "
                        "--bem-model DIR (bem_model=DIR), or --no-bem (no_bem=true)")
    if tiny and vocab is None:
        return problems
    vocab = vocab or OFFICIAL_VOCAB
    if _is_remote(vocab):
        if not _vocab_cache_path(vocab).is_file() and not allow_download:
            problems.append(f"BEM vocab {vocab} is not available offline and downloading it was not allowed: "
                            f"{_OFFLINE_HINT}")
    elif not Path(vocab).is_file():
        problems.append(f"BEM vocab file {vocab} not found: pass --bem-vocab FILE (bem_vocab=FILE), or --no-bem "
                        "(no_bem=true)")
    return problems


def _is_remote(spec: str) -> bool:
    return "://" in spec


def _fetch_vocab(url: str, allow_download: bool = False) -> Path:
    """Download a remote vocab once into the harness cache (gs:// is read through storage.googleapis.com)."""

    http = "https://storage.googleapis.com/" + url[len("gs://"):] if url.startswith("gs://") else url
    target = _vocab_cache_path(url)
    if target.is_file():
        return target
    if not allow_download:
        raise HarnessError(f"the BEM vocab {url} is not in the cache and downloading it was not allowed; "
                           f"{_OFFLINE_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(http, timeout=60) as resp:  # noqa: S310 (https / gs only)
            data = resp.read()
    except OSError as exc:
        raise HarnessError(f"could not download the BEM vocab {url} ({exc}); {_OFFLINE_HINT}") from exc
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{os.urandom(3).hex()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def _trim(pieces: Any, over: int) -> tuple[Any, int]:
    """Drop up to ``over`` word pieces from the end; return the rest and what is still over."""
    take = min(over, len(pieces))
    return pieces[: len(pieces) - take], over - take


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class BemScorer:
    """Equivalence probabilities from BEM (or any SavedModel with BEM's call signature).

    ``model``: a local SavedModel directory or a TF Hub handle (default: the official handle);
    ``vocab``: a local vocab file or a URL / gs:// path (default: the official BERT-base uncased vocab).
    Loading happens on first use; an unreachable handle fails with a message saying to pass local files.
    """

    def __init__(
        self, model: str = OFFICIAL_BEM_HANDLE, vocab: str = OFFICIAL_VOCAB, batch_size: int = 64,
        max_length: int = MAX_LENGTH, allow_download: bool = False,
    ) -> None:
        require_tensorflow()
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model_spec, self.vocab_spec = str(model), str(vocab)
        self.batch_size, self.max_length = batch_size, max_length
        self.allow_download = allow_download
        self._model: Any = None
        self._tokenizer: Any = None
        self._vocab_path: Path | None = None
        self._cls_id = self._sep_id = 0

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._model is not None:
            return
        tf, text = require_tensorflow()
        vocab = _fetch_vocab(self.vocab_spec, self.allow_download) if _is_remote(self.vocab_spec) \
            else Path(self.vocab_spec)
        if not vocab.is_file():
            raise HarnessError(f"BEM vocab file not found: {vocab}")
        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.TextFileInitializer(
                filename=str(vocab), key_dtype=tf.string, key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
                value_dtype=tf.int64, value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            ),
            num_oov_buckets=1,
        )
        cls_id, sep_id = table.lookup(tf.constant(["[CLS]", "[SEP]"])).numpy().tolist()
        tokenizer = text.BertTokenizer(
            vocab_lookup_table=table, token_out_type=tf.int64, preserve_unused_token=True, lower_case=True
        )
        model = self._load_model(tf)
        self._vocab_path, self._tokenizer, self._table = vocab, tokenizer, table
        self._cls_id, self._sep_id, self._model = int(cls_id), int(sep_id), model

    def _load_model(self, tf: Any) -> Any:
        spec = self.model_spec
        if not _is_remote(spec):
            if not Path(spec).is_dir():
                raise HarnessError(f"BEM model directory not found: {spec}")
            return tf.saved_model.load(spec)
        try:
            with warnings.catch_warnings():  # tensorflow-hub imports the deprecated pkg_resources
                warnings.simplefilter("ignore")
                import tensorflow_hub as hub
        except ImportError as exc:
            raise MissingDependencyError(f"loading a TF Hub handle needs tensorflow-hub: {INSTALL_HINT}") from exc
        if not self.allow_download and not (_hub_cache_dir(spec) / "saved_model.pb").is_file():
            raise HarnessError(f"the BEM model {spec} is not in the TF Hub cache and downloading it was not "
                               f"allowed; {_OFFLINE_HINT}")
        try:
            return hub.load(spec)
        except Exception as exc:  # network, resolver and format errors all mean the same to the user
            raise HarnessError(f"could not load the BEM model {spec} ({type(exc).__name__}: {exc}); "
                               f"{_OFFLINE_HINT}") from exc

    def identity(self) -> dict[str, Any]:
        """What determines the scores: model and vocab as given, and the vocab's sha256 once loaded."""
        out: dict[str, Any] = {"model": self.model_spec, "vocab": self.vocab_spec}
        if self._vocab_path is not None:
            out["vocab_sha256"] = _sha256(self._vocab_path)
        return out

    # -- inputs --------------------------------------------------------------------------------
    def _pieces(self, texts: Sequence[str]) -> list[Any]:
        """Word-piece ids of each text (the official ``tokenize(...).merge_dims(1, 2)``), as numpy arrays."""
        tf, _ = require_tensorflow()
        ragged = self._tokenizer.tokenize(tf.constant(list(texts), dtype=tf.string)).merge_dims(1, 2)
        values, splits = ragged.flat_values.numpy(), ragged.row_splits.numpy()
        return [values[splits[i]: splits[i + 1]] for i in range(len(texts))]

    def encode(
        self, candidates: Sequence[str], references: Sequence[str], questions: Sequence[str]
    ) -> tuple[Any, Any, list[bool]]:
        """``input_ids`` and ``segment_ids`` (int64 [B, 512]) and, per row, whether it was cut to fit."""
        import numpy as np

        self._load()
        n = len(candidates)
        cand, ref, ques = self._pieces(candidates), self._pieces(references), self._pieces(questions)
        ids = np.zeros((n, self.max_length), dtype=np.int64)
        seg = np.zeros((n, self.max_length), dtype=np.int64)
        cut = [False] * n
        budget = self.max_length - 4  # [CLS] and three [SEP]
        for i in range(n):
            c, r, q = cand[i], ref[i], ques[i]
            over = len(c) + len(r) + len(q) - budget
            if over > 0:
                cut[i] = True
                c, over = _trim(c, over)
                q, over = _trim(q, over)
                r, over = _trim(r, over)
            row = np.concatenate([[self._cls_id], c, [self._sep_id], r, [self._sep_id], q, [self._sep_id]])
            ids[i, : len(row)] = row
            a, b = len(c) + 2, len(r) + 1
            seg[i, a: a + b] = 1
            seg[i, a + b: len(row)] = 2
        return ids, seg, cut

    # -- scoring -------------------------------------------------------------------------------
    def scores_with_info(
        self, candidates: Sequence[str], references: Sequence[str], questions: Sequence[str]
    ) -> tuple[list[float], list[bool]]:
        """Equivalence probabilities and, per input, whether it was cut to 512 tokens."""
        import numpy as np

        if not (len(candidates) == len(references) == len(questions)):
            raise ValueError("candidates, references and questions must have the same length")
        self._load()
        tf, _ = require_tensorflow()
        probs: list[float] = []
        cuts: list[bool] = []
        for start in range(0, len(candidates), self.batch_size):
            stop = start + self.batch_size
            ids, seg, cut = self.encode(candidates[start:stop], references[start:stop], questions[start:stop])
            logits = np.asarray(self._model({"input_ids": tf.constant(ids), "segment_ids": tf.constant(seg)}))
            logits = logits.reshape(len(ids), -1)
            shifted = np.exp(logits - np.amax(logits, axis=-1, keepdims=True))
            soft = shifted / np.sum(shifted, axis=-1, keepdims=True)
            probs.extend(float(p) for p in soft[:, 1])
            cuts.extend(cut)
        return probs, cuts

    def scores(self, candidates: Sequence[str], references: Sequence[str], questions: Sequence[str]) -> list[float]:
        """``softmax(logits)[1]`` per (candidate, reference, question), computed ``batch_size`` at a time."""
        return self.scores_with_info(candidates, references, questions)[0]
