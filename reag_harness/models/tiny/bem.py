"""A tiny TF SavedModel with BEM's exact call signature, for tests and benchmarks (meaningless scores).

``model({"input_ids": int64[B, 512], "segment_ids": int64[B, 512]}) -> logits float32[B, 2]``.
Each non-padding position j contributes ``tanh(tok[id_j] + seg[segment_j] + pos[j])``; the mean over
positions with ``id != 0`` goes through a linear layer. The output therefore depends on the token ids,
their order, the segment ids and the padding mask, so a wrong segment id or padding changes the score.
:func:`tiny_bem_logits` computes the same function in numpy, so tests can check the TF plumbing
against inputs built by hand. TensorFlow is imported only when building.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

__all__ = ["TINY_BEM_VERSION", "TINY_VOCAB", "build_tiny_bem", "tiny_bem_logits", "tiny_bem_weights"]

TINY_BEM_VERSION = 2
_DIM = 16
_SEQ = 512
_WORDS = (
    "what which who where when why how is was are were the a an of in on at to for from by with and or "
    "sky blue light scattering red green tower bridge river city country capital built year height "
    "meters feet century museum church painting bird flower tree mountain lake island king queen "
    "named name called made designed architect located many much long tall old new first last "
    "yes no not none one two three four five six seven eight nine ten paris london rome berlin "
    "eiffel gothic roman stone iron wood glass animal species family genus color colour this that it "
    "its has have had be been do does did answer question"
).split()
TINY_VOCAB: tuple[str, ...] = (
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_WORDS,
    "scat", "##ter", "##ing", "##s", "##ed", "##ly", "?", ",", ".", "-", "'", "&", "1", "0", "9", "##0", "##9",
)


def tiny_bem_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """The tiny model's weights (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    w = {
        "tok": rng.normal(0.0, 1.0, (len(TINY_VOCAB), _DIM)).astype(np.float32),
        "seg": rng.normal(0.0, 1.0, (3, _DIM)).astype(np.float32),
        "pos": rng.normal(0.0, 0.5, (_SEQ, _DIM)).astype(np.float32),
        "w": rng.normal(0.0, 3.0, (_DIM, 2)).astype(np.float32),
        "b": np.zeros((2,), np.float32),
    }
    # Centre the bias so that about half of random inputs come out "equivalent" (p >= 0.5).
    ids, seg = _random_inputs(np.random.default_rng(seed + 1), 64)
    logits = tiny_bem_logits(ids, seg, w)
    w["b"][1] = -np.float32(np.median(logits[:, 1] - logits[:, 0]))
    return w


def _random_inputs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random well-formed BEM inputs over the tiny vocab (short segments)."""
    ids = np.zeros((n, _SEQ), np.int64)
    seg = np.zeros((n, _SEQ), np.int64)
    for i in range(n):
        lc, lr, lq = (int(x) for x in rng.integers(1, 8, 3))
        words = rng.integers(5, len(TINY_VOCAB), lc + lr + lq)
        row = [2, *words[:lc], 3, *words[lc:lc + lr], 3, *words[lc + lr:], 3]
        ids[i, : len(row)] = row
        seg[i, lc + 2: lc + lr + 3] = 1
        seg[i, lc + lr + 3: len(row)] = 2
    return ids, seg


def tiny_bem_logits(input_ids: np.ndarray, segment_ids: np.ndarray, weights: dict[str, np.ndarray] | None = None
                    ) -> np.ndarray:
    """The tiny model's logits computed in numpy (the reference for the TF SavedModel)."""
    w = weights or tiny_bem_weights()
    ids = np.asarray(input_ids, dtype=np.int64)
    seg = np.asarray(segment_ids, dtype=np.int64)
    h = np.tanh(w["tok"][ids] + w["seg"][seg] + w["pos"][None, : ids.shape[1]])
    mask = (ids != 0).astype(np.float32)[..., None]
    pooled = (h * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)
    return pooled @ w["w"] + w["b"]


def build_tiny_bem(directory: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Build (once) the tiny SavedModel and its vocab under ``directory``; return ``(model_dir, vocab_path)``."""
    root = Path(directory)
    model_dir, vocab_path, marker = root / "model", root / "vocab.txt", root / "tiny_bem.json"
    stamp = {"version": TINY_BEM_VERSION, "seed": seed}

    def built() -> bool:
        return marker.is_file() and json.loads(marker.read_text()) == stamp and (model_dir / "saved_model.pb").is_file()

    if built():
        return model_dir, vocab_path
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".build.lock")):  # concurrent first use: one builder, the others wait
        if not built():
            _build(root, model_dir, vocab_path, marker, stamp, seed)
    return model_dir, vocab_path


def _build(root: Path, model_dir: Path, vocab_path: Path, marker: Path, stamp: dict[str, Any], seed: int) -> None:
    import os
    import shutil
    import tempfile

    from reag_harness.core.atomic import remove_leftovers, swap_folder

    from ..bem_tensorflow import require_tensorflow

    tf, _ = require_tensorflow()

    weights = tiny_bem_weights(seed)

    class TinyBem(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = tf.Variable(weights["tok"], trainable=False)
            self.seg = tf.Variable(weights["seg"], trainable=False)
            self.pos = tf.Variable(weights["pos"], trainable=False)
            self.w = tf.Variable(weights["w"], trainable=False)
            self.b = tf.Variable(weights["b"], trainable=False)

        @tf.function(input_signature=[{
            "input_ids": tf.TensorSpec([None, _SEQ], tf.int64, name="input_ids"),
            "segment_ids": tf.TensorSpec([None, _SEQ], tf.int64, name="segment_ids"),
        }])
        def __call__(self, inputs: Any) -> Any:
            ids, seg = inputs["input_ids"], inputs["segment_ids"]
            h = tf.tanh(tf.gather(self.tok, ids) + tf.gather(self.seg, seg) + self.pos[None, :, :])
            mask = tf.cast(tf.not_equal(ids, 0), tf.float32)[..., None]
            pooled = tf.reduce_sum(h * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
            return tf.matmul(pooled, self.w) + self.b

    remove_leftovers(root, ".model.staging-*")  # staging folders of killed builds
    tmp = Path(tempfile.mkdtemp(prefix=".model.staging-", dir=root))
    try:
        tf.saved_model.save(TinyBem(), str(tmp / "model"))
        (tmp / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
        swap_folder(tmp / "model", model_dir)
        os.replace(tmp / "vocab.txt", vocab_path)
        marker.write_text(json.dumps(stamp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
