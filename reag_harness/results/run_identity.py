"""What ran, named: a checkpoint label and its parameter count for run folders, headers and rows.

``tiny:llava`` -> ``tiny-llava@1a2b3c4``; a local folder -> its name plus a short hash of its
files; a hub id -> the id plus the cached commit (``aimagelab/ReAG-7B@5f2c1e0``); an API model
-> its served model name. The parameter count is read from the checkpoint's safetensors headers
(no weights loaded), never guessed from a name.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any, Mapping

SHORT_HASH = 7


def checkpoint_of(component: Any) -> str | None:
    """The hub id or resolved local folder a component loads (None when it has no checkpoint)."""
    resolved = getattr(component, "pretrained", None)
    if resolved:
        return str(resolved)
    settings = getattr(component, "settings", None)
    model = getattr(settings, "model", None) or (getattr(component, "args", None) or {}).get("model")
    return str(model) if model else None


def checkpoint_label(component: Any) -> str | None:
    """A short, human name of what the component runs, with a short hash when one is known."""
    args: Mapping[str, Any] = getattr(component, "args", None) or {}
    given = args.get("pretrained")
    resolved = getattr(component, "pretrained", None)
    if given is None and resolved is None:
        model = checkpoint_of(component)
        return str(model) if model else None
    given = str(given or resolved)
    if given.startswith("tiny:"):
        name = "tiny-" + given[len("tiny:"):]
    elif Path(given).expanduser().exists():
        name = Path(given).expanduser().resolve().name
    else:
        name = given
    digest = short_hash(str(resolved or given))
    return f"{name}@{digest}" if digest else name


def short_hash(pretrained: str) -> str | None:
    """The cached hub commit or the folder hash of :func:`checkpoint_identity`, shortened."""
    try:
        from ..models.hf_checkpoints import checkpoint_identity

        ident = checkpoint_identity(pretrained)
    except Exception:  # noqa: BLE001 - a label never fails a run
        return None
    value = ident.get("revision") or ident.get("hash")
    return str(value)[:SHORT_HASH] if value else None


def parameter_count(component: Any) -> int | None:
    """Parameters of the component's checkpoint, summed from its safetensors headers (None if unknown)."""
    resolved = getattr(component, "pretrained", None)
    if not resolved:
        return None
    try:
        from ..models.hf_checkpoints import resolve_checkpoint

        folder = Path(resolve_checkpoint(str(resolved))[0])
    except Exception:  # noqa: BLE001
        return None
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files:
        return None
    total = 0
    try:
        for path in files:
            with open(path, "rb") as fh:
                (size,) = struct.unpack("<Q", fh.read(8))
                header = json.loads(fh.read(size))
            for key, entry in header.items():
                if key != "__metadata__":
                    n = 1
                    for dim in entry.get("shape") or []:
                        n *= int(dim)
                    total += n
    except (OSError, ValueError, struct.error):
        return None
    return total


def human_size(n_params: int | None) -> str | None:
    """``7615616512`` -> ``7.6B``; ``1234567`` -> ``1.2M``; ``5000`` -> ``5.0K``."""
    if not n_params:
        return None
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n_params >= scale:
            return f"{n_params / scale:.1f}{unit}"
    return str(n_params)


def folder_part(label: str | None) -> str:
    """``label`` made safe as part of a folder name and of a W&B artifact name
    (``org/model@abc1234`` -> ``org--model-abc1234``)."""
    if not label:
        return ""
    text = label.replace("/", "--").replace("@", "-")
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80]


def generator_display(components: Mapping[str, Any]) -> str:
    """``hf-vlm tiny-llava@1a2b3c4`` from a results.json ``components`` mapping (its name alone if no label)."""
    gen = components.get("generator") or {}
    if not isinstance(gen, Mapping):
        gen = getattr(gen, "__dict__", {})
    name, label = str(gen.get("name") or ""), gen.get("label")
    return f"{name} {label}" if label and label != name else name


def evaluated_split(asked: str | None, task: Any, samples: Any) -> str | None:
    """The split a run evaluated: the one asked for (``--split`` or the task's ``split=``), else the
    samples' own split values (``test``; ``val_unseen_entity+val_unseen_question``), else None."""
    asked = asked or (getattr(task, "args", None) or {}).get("split")
    if asked:
        return str(asked)
    seen = sorted({str(v) for s in samples for k in ("split", "data_split")
                   if (v := (getattr(s, "meta", None) or {}).get(k))})
    return "+".join(seen) if seen else None


NO_BEM_NOTE = "no BEM: EM-only lower bound"


def is_no_bem(results: Mapping[str, Any]) -> bool:
    """An EVQA run or score output scored without BEM (the exact-match lower bound)."""
    metrics = results.get("metrics") or {}
    config = results.get("config") or {}
    task_args = ((results.get("components") or {}).get("task") or {}).get("args") or {}
    flags = (metrics.get("bem_used") is False if isinstance(metrics, Mapping) else False,
             config.get("no_bem") is True, str(task_args.get("no_bem")).lower() in ("true", "1", "yes"),
             "lower bound" in str(results.get("official_label") or metrics.get("metric") or ""))
    return any(flags)


def scoring_note(results: Mapping[str, Any]) -> str | None:
    """A short mark for a run not scored by the official metric (EVQA without BEM), else None."""
    return NO_BEM_NOTE if is_no_bem(results) else None
