"""The shared-prefix critic: the same P("Yes") as per-pair sequences, on the tiny checkpoint and
on a mid-size random Qwen2.5-VL with real image sizes; switching it recomputes nothing."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from reag_harness.interfaces import Runtime  # noqa: E402
from reag_harness.records import Passage, Sample  # noqa: E402

TOL = 1e-4
WORDS = ("the river tower bird passage question built century cathedral mountain Paris named designed city "
         "wrought iron lattice engineer company highest sea level species fastest animals museum").split()


def critic(pretrained: str, prefix_cache: bool, batch_size: int | str = 4, **kwargs):
    from reag_harness.plugins.critics.qwen_critic import QwenVLCritic

    return QwenVLCritic(Runtime(device="cpu", dtype="float32", batch_size=batch_size), pretrained=pretrained,
                        threshold=0.5, prefix_cache=prefix_cache, **kwargs)


def assert_close(shared: list[float], per_pair: list[float]) -> None:
    assert len(shared) == len(per_pair)
    for a, b in zip(shared, per_pair):
        assert abs(a - b) <= TOL, (a, b)
        if b > 1e-12:  # tiny probabilities too, on a log scale
            assert math.log(a) == pytest.approx(math.log(b), abs=1e-3)


@pytest.fixture(scope="module")
def mid_path(tmp_path_factory, tiny_path) -> Path:
    from reag_harness.models.tiny.sized_qwen import write_sized_qwen25vl

    return write_sized_qwen25vl("mid", tmp_path_factory.mktemp("mid") / "ckpt", initializer_range=0.3)


@pytest.fixture(scope="module")
def real_size_pairs(tmp_path_factory) -> list[tuple[Sample, Passage]]:
    """Real image sizes (448x448 -> 256 image tokens; 560x448; 1000x800 resized to max_pixels); a query
    with one passage; a query whose passages run from one word to ~400 tokens; a passage that starts
    with a newline (merges across the prefix boundary: scored per pair); a query without image."""
    import numpy as np

    root = tmp_path_factory.mktemp("real_images")
    rng_np = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate([(448, 448), (560, 448), (1000, 800)]):
        path = root / f"img{i}.png"
        Image.fromarray(rng_np.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    rng = random.Random(0)
    one = Sample("one", "What is the name of this tower?", paths[0])
    wide = Sample("wide", "Who designed this bridge?", paths[1])
    big = Sample("big", "When was it built?", paths[2])
    text_only = Sample("noimg", "Which river runs through Paris?", None)
    pairs = [(one, Passage("p", 0, " ".join(rng.choices(WORDS, k=120))))]
    for i, k in enumerate([1, 400, 3, 150, 40, 250, 8]):
        pairs.append((wide, Passage("p", i, " ".join(rng.choices(WORDS, k=k)))))
    pairs.append((wide, Passage("p", 99, "\nA passage that starts with a newline.")))
    pairs += [(big, Passage("p", i, " ".join(rng.choices(WORDS, k=rng.randint(5, 60))))) for i in range(3)]
    pairs += [(text_only, Passage("p", i, " ".join(rng.choices(WORDS, k=rng.randint(5, 60))))) for i in range(3)]
    rng.shuffle(pairs)  # queries interleaved: grouping must not depend on order
    return pairs


def test_mid_size_real_images_agree_with_per_pair(mid_path: Path, real_size_pairs) -> None:
    shared_critic = critic(str(mid_path), True, batch_size=3)
    seen: list[tuple[list[int], list[float]]] = []
    shared = shared_critic.p_yes(real_size_pairs, on_batch=lambda idx, vals: seen.append((idx, vals)))
    per_pair = critic(str(mid_path), False, batch_size=3).p_yes(real_size_pairs)
    assert_close(shared, per_pair)
    assert max(per_pair) / min(per_pair) > 10  # scores spread: the comparison means something
    # every pair reported once through on_batch, with the value returned
    reported = {i: v for idx, vals in seen for i, v in zip(idx, vals)}
    assert sorted(i for idx, _ in seen for i in idx) == list(range(len(real_size_pairs)))
    assert all(reported[i] == shared[i] for i in reported)
    # the real image sizes really are hundreds of tokens, and the prompts are long
    assert max(shared_critic.prompt_lengths) > 700 and len(shared_critic.prompt_lengths) == len(real_size_pairs)


def test_one_passage_and_text_only_queries(mid_path: Path, real_size_pairs) -> None:
    single = [p for p in real_size_pairs if p[0].id == "one"]
    assert len(single) == 1
    assert_close(critic(str(mid_path), True).p_yes(single), critic(str(mid_path), False).p_yes(single))
    text_only = [p for p in real_size_pairs if p[0].image is None]
    assert_close(critic(str(mid_path), True).p_yes(text_only), critic(str(mid_path), False).p_yes(text_only))


def test_tokens_merging_across_the_prefix_end_are_scored_per_pair(tiny_path: Path, real_size_pairs) -> None:
    from reag_harness.models.prefix_scoring import PrefixRequest, SharedPrefixScorer, split_at_prefix
    from reag_harness.models.qwen_vl import Prompt, batch_inputs

    c = critic(str(tiny_path), True)
    model, processor = c.model_and_processor()
    sample = next(s for s, _ in real_size_pairs if s.id == "wide")
    pairs = [(sample, Passage("p", i, t)) for i, t in enumerate(["plain words", "plainly put", "tower of Paris"])]
    prompts = c.prompts(processor, pairs)
    prefix = c.prefix_text(processor, sample)
    assert all(p.text.startswith(prefix) for p in prompts)  # the rendered text is the per-pair text, byte for byte
    ids, suffixes = split_at_prefix(processor.tokenizer, prefix, [p.text for p in prompts])
    assert all(ids + s == processor.tokenizer(p.text)["input_ids"] for s, p in zip(suffixes, prompts))
    cut = prefix + "pla"  # a prefix ending inside a word: "pla" + "in" is not how "plain" tokenizes
    _, cut_suffixes = split_at_prefix(processor.tokenizer, cut, [p.text for p in prompts[:2]])
    assert None in cut_suffixes
    requests = [PrefixRequest(p.text, p.images, cut) for p in prompts[:2]] + [
        PrefixRequest(prompts[2].text, prompts[2].images, prefix)]
    fell_back: list[int] = []

    def fallback(idx: list[int]) -> list[float]:
        fell_back.extend(idx)
        return c._per_pair(model, processor, prompts, idx, c.yes_token_id(processor), None)

    scorer = SharedPrefixScorer(model, processor.tokenizer, lambda t, im: batch_inputs(processor, [Prompt(t, im)]),
                                c.yes_token_id(processor), batch_size=4, max_batch_tokens=None,
                                image_token_id=processor.image_token_id)
    got = scorer.score(requests, fallback)
    assert fell_back == [i for i, s in enumerate(cut_suffixes) if s is None]
    assert 2 not in fell_back and scorer.stats["shared"] >= 1
    assert_close(got, critic(str(tiny_path), False).p_yes(pairs))


def test_demo_run_every_pair_agrees_and_switching_recomputes_nothing(tiny_path: Path, tmp_path: Path) -> None:
    from reag_harness.api import evaluate
    from reag_harness.results.run_files import load_sample_logs

    common = dict(task="demo", limit=8, quiet=True, no_leaderboard=True, output_dir=str(tmp_path / "runs"),
                  cache_dir=str(tmp_path / "stages"), generator_args={"max_new_tokens": 2}, batch_size=8)
    shared = evaluate(**common, critic_args={"prefix_cache": True})
    judge = {t.stage: t for t in shared.timings}["judge"]
    assert judge.n_computed == shared.n == 8 and judge.items > 3 * shared.n
    switched = evaluate(**common, critic_args={"prefix_cache": False})
    again = {t.stage: t for t in switched.timings}["judge"]
    assert again.n_computed == 0 and again.n_cached == shared.n  # a computation strategy, not a new result
    # every pair of the run, scored again as per-pair sequences
    folder = next(f for f in (tmp_path / "runs").iterdir() if shared.run_id.startswith(f.name))
    rows = load_sample_logs(folder)
    pairs = [(Sample(r["id"], r["question"], r["image"]), Passage(p["page_key"], p["index"], p["text"]))
             for r in rows for p in r["passages"]]
    stored = [p["p_yes"] for r in rows for p in r["passages"]]
    assert len(pairs) == judge.items
    from reag_harness.plugins.critics.qwen_critic import tiny_critic

    per_pair = tiny_critic(Runtime(device="cpu", dtype="float32", batch_size=8), prefix_cache=False).p_yes(pairs)
    assert_close(stored, per_pair)


def test_prefix_cache_is_not_part_of_the_identity(tiny_path: Path) -> None:
    on, off = critic(str(tiny_path), True), critic(str(tiny_path), "false")
    assert on.prefix_cache is True and off.prefix_cache is False
    assert on.identity() == off.identity()
    assert critic(str(tiny_path), True, max_batch_tokens=1000).identity() == on.identity()


def test_expanded_cache_leaves_the_prefix_untouched(tiny_path: Path) -> None:
    from reag_harness.models.prefix_scoring import expand_cache
    from reag_harness.models.qwen_vl import load_qwen_vl

    model, processor = load_qwen_vl(str(tiny_path))
    ids = processor.tokenizer(["Which river runs through Paris?"], return_tensors="pt")
    with torch.inference_mode():
        cache = model.model(**ids, use_cache=True).cache
        keys = [layer.keys.clone() for layer in cache.layers]
        big = expand_cache(cache, 3)
        n = keys[0].shape[-2]
        model.model(input_ids=torch.ones((3, 2), dtype=torch.long), cache=big, use_cache=True,
                    position_ids=torch.arange(n, n + 2).view(1, 2).expand(3, 2))
    assert big.layers[0].keys.shape[0] == 3 and big.get_seq_length() == keys[0].shape[-2] + 2
    assert all(torch.equal(k, layer.keys) for k, layer in zip(keys, cache.layers))


def test_vllm_scores_one_prompt_per_prefix_first() -> None:
    from reag_harness.models.vllm_backend import warm_first_order

    keys = [("a.jpg", "q1"), ("a.jpg", "q1"), ("b.jpg", "q2"), ("a.jpg", "q1"), ("b.jpg", "q2"), ("c.jpg", "q3")]
    assert warm_first_order(keys) == ([0, 2, 5], [1, 3, 4])


def test_other_families_are_scored_per_pair_and_say_so(tiny_path: Path, real_size_pairs) -> None:
    from reag_harness.core.plugin_manager import get_registry

    pairs = [p for p in real_size_pairs if p[0].id == "wide"][:3]
    make = get_registry().create
    llava = make("critic", "hf-vlm-critic", Runtime(batch_size=2), {"pretrained": "tiny:llava"})
    shared = llava.p_yes(pairs)
    assert len(llava.deviations) == 1 and "'llava' is scored per pair" in llava.deviations[0]
    per_pair = make("critic", "hf-vlm-critic", Runtime(batch_size=2), {"pretrained": "tiny:llava",
                                                                       "prefix_cache": False})
    assert shared == per_pair.p_yes(pairs) and per_pair.deviations == []
    qwen = critic(str(tiny_path), True)
    qwen.p_yes(pairs)
    assert qwen.deviations == []  # Qwen2.5-VL shares the prefix: nothing to note
