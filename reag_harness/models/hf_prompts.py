"""Chat messages to Hugging Face processor inputs: rendering, image paths, prompt lengths, answer tokens, stops.

Prompts are rendered with the checkpoint's own chat template (or, for a family without one, by
its adapter in :mod:`reag_harness.models.families`), batched with left padding, images read from
their paths. A missing image is an :class:`~reag_harness.core.errors.InputError`, never a black image.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reag_harness.core.errors import HarnessError, InputError

from .hf_loading import family_of, tokenizer_of

# ---- tokens -----------------------------------------------------------------------------------------


def single_token_id(tokenizer: Any, word: str) -> int:
    """The id of ``word`` when it is a single token (e.g. "Yes"); HarnessError otherwise."""
    ids = tokenizer.encode(word, add_special_tokens=False)
    if len(ids) != 1:
        raise HarnessError(f"the checkpoint's tokenizer splits {word!r} into {len(ids)} tokens {ids}; expected one")
    return int(ids[0])


def answer_token_id(processor: Any, word: str = "Yes") -> int:
    """The single token the model would emit for ``word`` right after its generation prompt.

    After a prompt that ends in whitespace (Qwen's ``assistant\\n``) that is ``word``; after
    one that ends in a character (LLaVA's ``ASSISTANT:``, BLIP-2's ``Answer:``) it is
    ``" " + word``. HarnessError when the tokenizer does not give it one token there.
    """
    tokenizer = tokenizer_of(processor)
    prompt = family_of(processor).adapter.render(processor, [{"role": "user", "content": [
        {"type": "text", "text": "Question?"}]}])
    spelled = word if (not prompt or prompt[-1].isspace()) else " " + word
    tail = prompt[-24:]
    before = tokenizer.encode(tail, add_special_tokens=False)
    after = tokenizer.encode(tail + spelled, add_special_tokens=False)
    if len(after) == len(before) + 1 and after[:len(before)] == before:
        return int(after[-1])
    if spelled == word:
        return single_token_id(tokenizer, word)
    raise HarnessError(f"the checkpoint's tokenizer does not give {spelled!r} one token after its generation "
                       f"prompt ({tail!r} -> {after[len(before):] if after[:len(before)] == before else after}); "
                       "expected one")


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` cut right after the earliest stop string (the stop string is kept)."""
    ends = [i + len(s) for s in stop if s and (i := text.find(s)) >= 0]
    return text[: min(ends)] if ends else text


# ---- chat messages -> processor inputs ------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A rendered chat (template text with the assistant prefix) and its image paths, in order."""

    text: str
    images: tuple[str, ...]


def message_images(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """The image paths of a chat, in the order the template places their placeholders."""
    paths: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) or content is None:
            continue
        for item in content:
            path = item_image_path(item)
            if path is not None:
                paths.append(path)
    return paths


def item_image_path(item: Mapping[str, Any]) -> str | None:
    """The file path of a chat item's image (None for a text item); images travel as paths, never pixels."""
    if not (item.get("type") == "image" or "image" in item):
        return None
    image = item.get("image")
    if not isinstance(image, (str, os.PathLike)):
        raise InputError("<messages>", f"expected an image file path, got {type(image).__name__}", field="image")
    return os.fspath(image)


def check_images(paths: Sequence[str]) -> None:
    """InputError naming the first image path that is not a readable file."""
    for path in paths:
        if not os.path.isfile(path):
            raise InputError(path, "image file not found", field="image")


def render(processor: Any, messages: Sequence[Mapping[str, Any]], assistant_prefix: str = "") -> Prompt:
    """The chat template with the generation prompt, then ``assistant_prefix`` (e.g. ``<think>``)."""
    images = message_images(messages)
    check_images(images)
    adapter = family_of(processor).adapter
    if not images and not adapter.text_only_prompts:
        raise HarnessError(f"{adapter.name} needs an image in every prompt; this request has none")
    text = adapter.render(processor, messages)
    return Prompt(text=text + assistant_prefix, images=tuple(images))


def prompt_length(processor: Any, prompt: Prompt, sizes: dict[str, tuple[int, int]] | None = None) -> int:
    """Number of tokens the prompt will take (text tokens plus image tokens): the sort key.

    ``sizes`` caches image sizes by path across calls (many critic pairs share an image).
    """
    from PIL import Image

    family = family_of(processor)
    sizes = {} if sizes is None else sizes
    special = family.adapter.add_special_tokens(processor, prompt.text)
    # verbose=False: measuring an over-long prompt (for the prompt policy) is not an error
    n = len(tokenizer_of(processor)(prompt.text, add_special_tokens=special, verbose=False)["input_ids"])
    for path in prompt.images:
        if path not in sizes:
            with Image.open(path) as im:
                w, h = im.size
            if family.max_pixels is not None and w * h > family.max_pixels and not family.adapter.bounds_in_processor:
                scale = (family.max_pixels / (w * h)) ** 0.5
                w, h = max(1, int(w * scale)), max(1, int(h * scale))
            sizes[path] = (w, h)
    counts = family.adapter.image_tokens(processor, [sizes[p] for p in prompt.images])
    return n + sum(c - family.adapter.placeholders_per_image() for c in counts)


def load_image(path: str) -> Any:
    """An RGB PIL image; InputError (field 'image') when missing or unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError as exc:
        raise InputError(path, "image file not found", field="image") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(path, f"unreadable image: {exc}", field="image") from exc


def prepared_image(processor: Any, path: str) -> Any:
    """The image at ``path`` as the family's processor should get it (RGB, within the pixel bounds)."""
    family = family_of(processor)
    return family.adapter.prepare_image(load_image(path), family.min_pixels, family.max_pixels)


def batch_inputs(processor: Any, prompts: Sequence[Prompt], device: str | None = None) -> Any:
    """Processor inputs for a batch (left padding), images loaded with PIL, moved to ``device``."""
    cache: dict[str, Any] = {}
    images: list[list[Any]] = []
    for prompt in prompts:
        per_prompt = []
        for path in prompt.images:
            if path not in cache:
                cache[path] = prepared_image(processor, path)
            per_prompt.append(cache[path])
        images.append(per_prompt)
    tokenizer_of(processor).padding_side = "left"
    inputs = family_of(processor).adapter.inputs(processor, [p.text for p in prompts], images)
    return inputs.to(device) if device else inputs


# ---- prompt length against the model --------------------------------------------------------------------


def max_positions(model: Any) -> int | None:
    """The language model's ``max_position_embeddings`` (None when it does not say)."""
    n = getattr(model.config.get_text_config(), "max_position_embeddings", None)
    return int(n) if n else None


def check_prompt_lengths(model: Any, lengths: Sequence[int]) -> None:
    """HarnessError when a prompt is longer than the model's positions (instead of an index error inside it)."""
    limit = max_positions(model)
    if limit and lengths and max(lengths) > limit:
        raise HarnessError(f"a prompt of {max(lengths)} tokens is longer than the model's {limit} positions: "
                           f"set max_prompt_tokens (at most {limit} minus max_new_tokens; 'auto' "
                           "does this) with prompt_policy=truncate (drop the last passages) or prompt_policy=error "
                           "(that sample scored wrong), give it fewer passages (a smaller retriever top_k) or use a "
                           "longer-context model")
