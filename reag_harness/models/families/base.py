"""The default family adapter: what every chat VLM does unless its adapter says otherwise.

An adapter turns our chat messages (image items are file paths) into the model's text and
processor inputs. Most of the work is the checkpoint's own chat template and processor;
an adapter only holds what differs between families: how images enter the chat, how the
processor wants its image list, image-size limits, and (BLIP-2) a plain prompt instead of
a chat template. Adapters hold no state: the loaded processor and the user's pixel bounds
are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from reag_harness.core.errors import HarnessError
from reag_harness.core.versions import doc_ref


class FamilyAdapter:
    """Chat rendering and processor calls for one model family (the default: chat template + processor)."""

    name: ClassVar[str] = "generic"
    #: ``config.model_type`` values this adapter serves.
    model_types: ClassVar[tuple[str, ...]] = ()
    #: Hub checkpoints of this family need ``trust_remote_code=True`` (none of the built-in ones do).
    trust_remote_code: ClassVar[bool] = False
    #: The processor takes one list of images per prompt (``[[img], [], [img, img]]``), not a flat list.
    nested_images: ClassVar[bool] = False
    #: Default image-size bounds in pixels (``None``: the processor's own resizing only).
    min_pixels: ClassVar[int | None] = None
    max_pixels: ClassVar[int | None] = None
    #: The processor applies the pixel bounds itself (else :meth:`prepare_image` shrinks the image).
    bounds_in_processor: ClassVar[bool] = False
    #: Whether the model can take a prompt without an image.
    text_only_prompts: ClassVar[bool] = True

    # ------------------------------------------------------------------ chat -> text

    def chat(self, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Messages as the family's template expects them: string content becomes one text item."""
        out = []
        for message in messages:
            content = message.get("content")
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            out.append({**message, "content": list(content or [])})
        return out

    def render(self, processor: Any, messages: Sequence[Mapping[str, Any]]) -> str:
        """The chat template with the generation prompt (no assistant prefix)."""
        if not getattr(processor, "chat_template", None):
            raise HarnessError(
                f"the checkpoint's processor ({type(processor).__name__}) has no chat template; a family without "
                f"one needs an adapter that writes its plain prompt (see {doc_ref('models.md')})")
        return processor.apply_chat_template(self.chat(messages), tokenize=False, add_generation_prompt=True)

    # ------------------------------------------------------------------ processor

    def configure(self, processor: Any, min_pixels: int | None, max_pixels: int | None) -> None:
        """Apply the image-size bounds to a freshly loaded processor (default: nothing to set)."""

    def prepare_image(self, image: Any, min_pixels: int | None, max_pixels: int | None) -> Any:
        """A PIL image the processor will take; the default shrinks it to at most ``max_pixels``."""
        if max_pixels is not None and image.width * image.height > max_pixels:
            scale = (max_pixels / (image.width * image.height)) ** 0.5
            size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            image = image.resize(size)
        return image

    def inputs(self, processor: Any, texts: list[str], images: list[list[Any]]) -> Any:
        """Processor inputs for a batch (left padding); ``images[i]`` are prompt ``i``'s images."""
        flat = [im for per_prompt in images for im in per_prompt]
        if not flat:
            image_arg = None
        elif self.nested_images:
            image_arg = images
        else:
            image_arg = flat
        return processor(text=texts, images=image_arg, padding=True, return_tensors="pt",
                         add_special_tokens=self.add_special_tokens(processor, texts[0]))

    def add_special_tokens(self, processor: Any, text: str) -> bool:
        """Whether the tokenizer should add its special tokens: not when the template already wrote
        the BOS token (the rule of ``ProcessorMixin.apply_chat_template(tokenize=True)``)."""
        bos = getattr(getattr(processor, "tokenizer", processor), "bos_token", None)
        return not (bos and text.startswith(bos))

    def image_tokens(self, processor: Any, sizes: Sequence[tuple[int, int]]) -> list[int]:
        """How many tokens each image (width, height) becomes, for length sorting (0 when unknown)."""
        if not sizes:
            return []
        try:
            data = processor._get_num_multimodal_tokens(image_sizes=[(h, w) for w, h in sizes])
            return [int(n) for n in data["num_image_tokens"]]
        except Exception:  # a processor without the helper: sorting only gets less precise
            return [0] * len(sizes)

    def placeholders_per_image(self) -> int:
        """Tokens an image occupies in the rendered text before the processor expands it."""
        return 1
