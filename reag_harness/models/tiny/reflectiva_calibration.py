"""How the tiny ReflectiVA's reflective-token rows are calibrated, and on what (a frozen copy of demo data).

The calibration set is the demo task's first 12 questions with their pictures, and the first
passage of the first 4 pages of its knowledge base, copied here so that the fixture depends on
nothing above ``models`` and its weights on nothing but this code (``tests/test_reflectiva.py``
checks the copy against the demo). Change it only with ``tiny_vlms.VERSION``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from reag_harness.prompts.reflectiva import REFLECTIVE_TOKENS, opening, relevance_messages
from reag_harness.records import Sample

from ..llava_llama import pixel_values, render, tokenizer_image_token
from .pictures import draw_picture

#: ``(question, page title, picture colour, picture shape)`` of the demo's questions demo-000 to demo-011.
QUESTIONS = (
    ("In which year was this lighthouse completed or first recorded?", "Varrow Lighthouse", "red", "tower"),
    ("What figure in metres is given for this bridge?", "Orrin Bridge", "grey", "arch"),
    ("What colour is this mountain best known for?", "Mount Telis", "white", "triangle"),
    ("In which place is this lake?", "Lake Sivra", "blue", "ellipse"),
    ("In which year was this bird completed or first recorded?", "Copper Finch", "orange", "circle"),
    ("What figure in petals is given for this flower?", "Moon Lily", "white", "star"),
    ("In which place is this castle?", "Castle Dunmar", "brown", "square"),
    ("Who led or recorded the first account of this tower?", "Sable Tower", "black", "tower"),
    ("In which year was this ship completed or first recorded?", "The Gull Queen", "green", "hull"),
    ("What figure in metres is given for this statue?", "The Stone Reader", "grey", "figure"),
    ("Who led or recorded the first account of this waterfall?", "Keld Falls", "cyan", "stripes"),
    ("What colour is this island best known for?", "Isle of Marr", "yellow", "ellipse"),
)
#: The first passage of each of the demo knowledge base's first 4 pages.
PASSAGES = (
    "Varrow Lighthouse is a lighthouse in the Isle of Varrow. It is best known for its red colour.",
    "Orrin Bridge is a bridge in the river Orrin. It is best known for its grey colour.",
    "Mount Telis is a mountain in the Kesh range. It is best known for its white colour.",
    "Lake Sivra is a lake in the Sivra valley. It is best known for its blue colour.",
)


def calibration_samples(folder: Path) -> list[Sample]:
    """The calibration questions as samples, their pictures drawn into ``folder``."""
    samples = []
    for i, (question, title, colour, shape) in enumerate(QUESTIONS):
        image = folder / f"calibration-{i:02d}.png"
        draw_picture(title, colour, shape).save(image)
        samples.append(Sample(id=f"calibration-{i:02d}", question=question, image=str(image)))
    return samples


def _split_rows(model: Any, hidden: Any, pair: tuple[int, int], scale: float) -> None:
    """Rows of ``pair`` (yes-like, no-like) = +-``scale`` times the main direction in which ``hidden`` varies,
    centred: the tiny model then picks either token depending on the prompt (a random model barely does)."""
    import torch

    centred = hidden - hidden.mean(dim=0, keepdim=True)
    direction = torch.linalg.svd(centred, full_matrices=False).Vh[0]
    offset = float((hidden @ direction).median())
    mean_dir = hidden.mean(dim=0)
    row = direction - offset * mean_dir / float(mean_dir @ mean_dir)  # row @ h = direction @ h - offset (about)
    row = row / float((hidden @ row).std().clamp_min(1e-6))  # unit spread of the logit across prompts
    head = model.llm.lm_head.weight
    head[pair[0]] = scale * row
    head[pair[1]] = -scale * row


def calibrate(model: Any, tokenizer: Any, image_processor: Any) -> None:
    """Make the tiny ``[RET]``/``[NORET]`` and ``[REL]``/``[NOREL]`` choices depend on the prompt (calibrated on
    the demo task's questions and passages, so that a tiny demo run retrieves for some samples only)."""
    import torch
    from PIL import Image

    ids = {k: tokenizer.convert_tokens_to_ids(v) for k, v in REFLECTIVE_TOKENS.items()}

    def last_hidden(messages: list) -> Any:
        paths = [i["image"] for m in messages if isinstance(m["content"], list) for i in m["content"]
                 if i.get("type") == "image"]
        with Image.open(paths[0]) as im:
            pixels = pixel_values(im.convert("RGB"), image_processor, model.config)
        ids_ = tokenizer_image_token(render(tokenizer, messages), tokenizer)
        embeds, mask = model.batch_embeds([ids_], [pixels])
        return model.llm.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state[0, -1]

    with tempfile.TemporaryDirectory(prefix="reag-tiny-reflectiva-") as folder, torch.no_grad():
        samples = calibration_samples(Path(folder))
        model.llm.lm_head.weight.mul_(0.05)  # soft next-token distributions: the reflective choice can win
        gate = torch.stack([last_hidden(opening(s)) for s in samples])
        _split_rows(model, gate, (ids["retrieval"], ids["no_retrieval"]), 4.0)
        rel = torch.stack([last_hidden(relevance_messages(s, p)) for s in samples for p in PASSAGES])
        _split_rows(model, rel, (ids["relevant"], ids["no_relevant"]), 8.0)
