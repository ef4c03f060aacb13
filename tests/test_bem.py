"""BEM plumbing through TensorFlow with a tiny SavedModel whose output depends on ids, segments and padding."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from reag_harness.core.errors import HarnessError, MissingDependencyError
from reag_harness.models.bem_tensorflow import require_tensorflow
from reag_harness.models.tiny.bem import TINY_VOCAB, build_tiny_bem, tiny_bem_logits
from reag_harness.tasks.evqa.bem import BemScorer
from reag_harness.tasks.evqa.metric import EvqaScorer


@pytest.fixture(scope="session")
def tiny_bem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny BEM SavedModel and vocab, built once per session (shared by name with other test files)."""
    return build_tiny_bem(tmp_path_factory.getbasetemp() / "tiny_bem")


@pytest.fixture(scope="session")
def scorer(tiny_bem: tuple[Path, Path]) -> BemScorer:
    model, vocab = tiny_bem
    return BemScorer(str(model), str(vocab), batch_size=8)


def _ids(*tokens: str) -> list[int]:
    return [TINY_VOCAB.index(t) for t in tokens]


def _prob(ids: np.ndarray, seg: np.ndarray) -> np.ndarray:
    logits = tiny_bem_logits(ids, seg).astype(np.float32)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True))[:, 1]


def _hand_built() -> tuple[np.ndarray, np.ndarray]:
    """[CLS] light scat ##ter ##s [SEP] light scattering [SEP] why is the sky blue ? [SEP], segments 0/1/2, zero pad."""
    row = _ids("[CLS]", "light", "scat", "##ter", "##s", "[SEP]", "light", "scattering", "[SEP]",
               "why", "is", "the", "sky", "blue", "?", "[SEP]")
    seg = [0] * 6 + [1] * 3 + [2] * 7
    ids = np.zeros((1, 512), np.int64)
    segs = np.zeros((1, 512), np.int64)
    ids[0, : len(row)] = row
    segs[0, : len(seg)] = seg
    return ids, segs


def test_encode_matches_the_official_layout(scorer: BemScorer) -> None:
    ids, seg, cut = scorer.encode(["Light Scatters"], ["light scattering"], ["Why is the sky blue?"])
    want_ids, want_seg = _hand_built()
    assert ids.dtype == np.int64 and ids.shape == (1, 512) and seg.shape == (1, 512)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(seg, want_seg)
    assert cut == [False]


def test_unknown_words_map_to_unk(scorer: BemScorer) -> None:
    ids, _, _ = scorer.encode(["zebra"], ["red"], ["what"])
    assert ids[0, :7].tolist() == _ids("[CLS]", "[UNK]", "[SEP]", "red", "[SEP]", "what", "[SEP]")


def test_scores_equal_the_model_on_hand_built_inputs(scorer: BemScorer) -> None:
    ids, seg = _hand_built()
    expected = float(_prob(ids, seg)[0])
    got = scorer.scores(["Light Scatters"], ["light scattering"], ["Why is the sky blue?"])
    assert got == pytest.approx([expected], abs=1e-5)
    # The check above can fail: each plausible plumbing mistake moves the score far more than 1e-5.
    wrong_segments = np.where(seg == 2, 1, seg)
    no_segments = np.zeros_like(seg)
    pad_with_one = np.where(ids == 0, 1, ids)
    shifted = np.roll(ids, 1, axis=1)
    swapped = ids.copy()
    swapped[0, [1, 2]] = ids[0, [2, 1]]  # token order matters
    for mutated_ids, mutated_seg in [(ids, wrong_segments), (ids, no_segments), (pad_with_one, seg),
                                     (shifted, np.roll(seg, 1, axis=1)), (swapped, seg)]:
        assert abs(float(_prob(mutated_ids, mutated_seg)[0]) - expected) > 1e-3


def test_batched_equals_one_at_a_time(tiny_bem: tuple[Path, Path], scorer: BemScorer) -> None:
    rng = np.random.default_rng(3)
    words = [w for w in TINY_VOCAB[5:] if not w.startswith("##")]

    def sentence() -> str:
        return " ".join(rng.choice(words, size=int(rng.integers(1, 9))))

    triples = [(sentence(), sentence(), sentence()) for _ in range(19)]
    cands, refs, qs = (list(x) for x in zip(*triples))
    batched = scorer.scores(cands, refs, qs)
    single = BemScorer(str(tiny_bem[0]), str(tiny_bem[1]), batch_size=1)
    one_by_one = [single.scores([c], [r], [q])[0] for c, r, q in triples]
    assert batched == pytest.approx(one_by_one, abs=1e-6)
    ids, seg, _ = scorer.encode(cands, refs, qs)
    assert batched == pytest.approx(_prob(ids, seg).tolist(), abs=1e-5)
    assert 0 < sum(p >= 0.5 for p in batched) < len(batched)  # the tiny model says both things


def test_over_512_tokens_cuts_the_candidate_first(scorer: BemScorer) -> None:
    ids, seg, cut = scorer.encode(["light " * 600, "red"], ["blue sky", "blue sky"], ["why is it red"] * 2)
    assert cut == [True, False]
    row, srow = ids[0], seg[0]
    assert (row != 0).all() and row[0] == TINY_VOCAB.index("[CLS]") and row[-1] == TINY_VOCAB.index("[SEP]")
    assert row[-8:].tolist() == _ids("blue", "sky", "[SEP]", "why", "is", "it", "red", "[SEP]")
    assert srow[-8:].tolist() == [1, 1, 1, 2, 2, 2, 2, 2] and (srow[: 512 - 8] == 0).all()
    # reference + question alone too long: the candidate goes, then the question is cut; the reference stays
    ids, seg, cut = scorer.encode(["red"], ["blue sky"], ["sky " * 600])
    assert cut == [True]
    assert ids[0, :6].tolist() == _ids("[CLS]", "[SEP]", "blue", "sky", "[SEP]", "sky")
    assert ids[0, -1] == TINY_VOCAB.index("[SEP]") and seg[0, -1] == 2


def test_truncation_is_counted_by_the_evqa_scorer(scorer: BemScorer) -> None:
    rows = EvqaScorer(bem=scorer).score(["why"], ["blue"], ["templated"], ["light " * 600])
    assert rows[0]["bem_truncated"] and rows[0]["decided_by"] == "bem"


def test_identity_records_the_vocab_hash(scorer: BemScorer) -> None:
    scorer.scores(["a"], ["b"], ["c"])
    ident = scorer.identity()
    assert ident["model"].endswith("model") and len(ident["vocab_sha256"]) == 64


def test_unreachable_hub_handle_fails_with_advice(tiny_bem: tuple[Path, Path]) -> None:
    bem = BemScorer("https://127.0.0.1:9/answer_equivalence/bem/1", str(tiny_bem[1]))
    with pytest.raises(HarnessError, match="--bem-model DIR"):
        bem.scores(["a"], ["b"], ["c"])


def test_unreachable_vocab_url_fails_with_advice(tiny_bem: tuple[Path, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REAG_HARNESS_CACHE", str(tmp_path))
    bem = BemScorer(str(tiny_bem[0]), "http://127.0.0.1:9/vocab.txt")
    with pytest.raises(HarnessError, match="--bem-vocab FILE"):
        bem.scores(["a"], ["b"], ["c"])


def test_missing_model_dir(tiny_bem: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="not found"):
        BemScorer(str(tmp_path / "nope"), str(tiny_bem[1])).scores(["a"], ["b"], ["c"])


def test_missing_tensorflow_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow_text", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'reag-harness\[evqa\]'"):
        require_tensorflow()
    with pytest.raises(MissingDependencyError):
        BemScorer("x", "y")


def test_tiny_model_build_is_cached(tiny_bem: tuple[Path, Path]) -> None:
    model, vocab = tiny_bem
    stamp = (model / "saved_model.pb").stat().st_mtime_ns
    assert build_tiny_bem(model.parent) == (model, vocab)
    assert (model / "saved_model.pb").stat().st_mtime_ns == stamp
