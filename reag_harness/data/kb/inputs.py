"""Shared input helpers of the EVQA and InfoSeek tasks: task arguments, query files, images.

Every problem raises :class:`~reag_harness.core.errors.InputError` naming the file, the line and the
field. With ``on_error="skip"`` a loader keeps a sample whose problem is local to it (a missing
image, a missing field) and marks it with ``meta["input_error"]``; a line that is not even valid
JSON is always fatal (there is no sample to mark).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ...core.errors import HarnessError, InputError
from ...core.jsonio import BadLine, NonFiniteNumber, iter_jsonl, read_text, strict_decoder

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".JPEG", ".JPG", ".png", ".webp")
TRUE = {"1", "true", "yes", "on", "y", "t"}
FALSE = {"0", "false", "no", "off", "n", "f", ""}


def as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise HarnessError(f"task argument {name}={value!r}: expected true or false")


def merge_config(args: Mapping[str, Any], known: Sequence[str]) -> dict[str, Any]:
    """Task args on top of the YAML file named by ``config=`` (same keys); unknown keys are refused.

    Relative paths in the YAML file are resolved against the YAML file's folder.
    """
    args = {k.replace("-", "_"): v for k, v in args.items()}
    merged: dict[str, Any] = {}
    config = args.pop("config", None)
    if config:
        import yaml

        path = Path(str(config))
        if not path.is_file():
            raise InputError(str(path), "task config file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            raise InputError(str(path), f"not valid YAML: {exc}", line=None if line is None else line + 1) from exc
        if not isinstance(data, dict):
            raise InputError(str(path), "a task config must be a mapping of task arguments")
        for key, value in data.items():
            key = str(key).replace("-", "_")
            if key not in known:
                raise InputError(str(path), f"unknown task argument (known: {', '.join(sorted(known))})", field=key)
            relative = isinstance(value, str) and value and not os.path.isabs(value) and "://" not in value
            if relative and key in PATH_ARGS and not (key == "bem_model" and value == "tiny"):
                value = str((path.parent / value).resolve())
            merged[key] = value
    for key, value in args.items():
        if key not in known:
            raise HarnessError(f"unknown task argument '{key}' (known: {', '.join(sorted(known))})")
        merged[key] = value
    return merged


PATH_ARGS = {"queries", "images", "kb", "qtypes", "references", "index", "lens", "bem_model", "bem_vocab", "image_map"}


def iter_json_array(path: str) -> Iterator[tuple[int, Any]]:
    """``(line, item)`` for each element of a top-level JSON array (line where the item starts)."""
    text = read_text(path)
    dec = strict_decoder()  # NaN / Infinity refused, naming the line
    pos, line, n = 0, 1, len(text)

    def skip(p: int) -> int:
        while p < n and text[p] in " \t\r\n":
            p += 1
        return p

    def fail(p: int, msg: str) -> InputError:
        column = p - text.rfind("\n", 0, p)
        return InputError(path, f"{msg} (column {column})", line=text.count("\n", 0, p) + 1)

    pos = skip(pos)
    if pos < n and text[pos] == "\ufeff":
        pos = skip(pos + 1)
    if pos >= n or text[pos] != "[":
        raise fail(pos, "expected a JSON list of questions")
    pos = skip(pos + 1)
    last = 0
    if pos < n and text[pos] == "]":
        return
    while True:
        line += text.count("\n", last, pos)
        last = pos
        try:
            item, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise fail(exc.pos, f"malformed JSON: {exc.msg}") from exc
        except NonFiniteNumber as exc:
            raise fail(pos, f"malformed JSON: {exc}") from None
        yield line, item
        pos = skip(end)
        if pos < n and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < n and text[pos] == "]":
            if skip(pos + 1) < n:
                raise fail(pos + 1, "extra data after the list")
            return
        raise fail(pos, "expected ',' or ']' between questions")


def iter_records(path: str, on_bad_line: BadLine | None = None) -> Iterator[tuple[int, Any]]:
    """JSON list (.json) or JSON lines (anything else; a .json file that starts with '{' too).

    ``on_bad_line`` (JSON lines only) receives each malformed line's error and the line is skipped.
    """
    if not os.path.isfile(path):
        raise InputError(path, "query file not found")
    if path.endswith(".json"):
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
        if head.startswith("["):
            yield from iter_json_array(path)
            return
    yield from iter_jsonl(path, on_bad_line)


def file_identity(path: str) -> dict[str, Any]:
    """Size, mtime and a content hash (sha256 of the whole file; query files are small)."""
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime": st.st_mtime, "sha256": h.hexdigest()}


def load_image_map(path: str) -> dict[str, str]:
    """``id -> image path`` from a JSON object or a two-column CSV (id, path; a header row is allowed)."""
    if not os.path.isfile(path):
        raise InputError(path, "image map not found")
    if path.endswith(".json"):
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(path, f"malformed JSON: {exc.msg}", line=exc.lineno) from exc
        if not isinstance(data, dict):
            raise InputError(path, "an image map must be a JSON object {id: path}")
        return {str(k): str(v) for k, v in data.items()}
    import csv

    out: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f), 1):
            if not row or (i == 1 and row[0].strip().lower() in ("id", "image_id", "dataset_image_id")):
                continue
            if len(row) < 2:
                raise InputError(path, "expected two columns: id, path", line=i)
            out[row[0].strip()] = row[1].strip()
    return out


class ImageResolver:
    """Finds a query image under an image root.

    Order: an explicit path of the record (absolute, or relative to the root); the image map
    (``id -> path``); ``pattern`` formatted with the record's fields and ``id``; then
    ``{root}/{id}{ext}``, ``{root}/{dataset_name}/{id}{ext}`` and the Google-Landmarks layout
    ``{root}/{id[0]}/{id[1]}/{id[2]}/{id}{ext}`` for each common extension.
    """

    def __init__(
        self, root: str | None, image_map: Mapping[str, str] | None = None, pattern: str | None = None
    ) -> None:
        self.root = Path(root) if root else None
        self.image_map = dict(image_map or {})
        self.pattern = pattern

    def candidates(self, explicit: str | None, image_id: str | None, record: Mapping[str, Any]) -> list[Path]:
        out: list[Path] = []
        base = self.root or Path(".")
        if explicit:
            p = Path(explicit)
            out.append(p if p.is_absolute() else base / p)
            if not p.is_absolute() and self.root is not None:
                out.append(base / p.name)
        if image_id:
            if image_id in self.image_map:
                mapped = Path(self.image_map[image_id])
                out.append(mapped if mapped.is_absolute() else base / mapped)
            if self.pattern:
                try:
                    out.append(base / self.pattern.format(**{**record, "id": image_id}))
                except (KeyError, IndexError, ValueError) as exc:
                    raise HarnessError(f"image_pattern {self.pattern!r}: {exc!r} is not a field of the record") from exc
            if self.root is not None:
                dataset = record.get("dataset_name")
                for ext in IMAGE_EXTENSIONS:
                    out.append(base / f"{image_id}{ext}")
                    if dataset:
                        out.append(base / str(dataset) / f"{image_id}{ext}")
                    if len(image_id) >= 3:
                        out.append(base / image_id[0] / image_id[1] / image_id[2] / f"{image_id}{ext}")
        return out

    def resolve(self, explicit: str | None, image_id: str | None, record: Mapping[str, Any]) -> tuple[str | None, str]:
        """``(path, "")`` when found, else ``(None, why)``."""
        tried = self.candidates(explicit, image_id, record)
        for p in tried:
            if p.is_file():
                return str(p), ""
        if not tried:
            return None, "no image path or image id in the record" + ("" if self.root else " (and no images= root)")
        shown = ", ".join(str(p) for p in tried[:3]) + (f" (+{len(tried) - 3} more)" if len(tried) > 3 else "")
        return None, f"image not found (tried {shown})"


def parse_question_types(value: Any) -> set[str] | None:
    """``question_types=a|b`` (or a YAML list) -> a set; None means every type."""
    if value in (None, "", []):
        return None
    items = value if isinstance(value, (list, tuple)) else str(value).split("|")
    return {str(v).strip() for v in items if str(v).strip()}


def split_matches(sample_split: str | None, wanted: str | None) -> bool:
    """A sample belongs to split ``wanted`` when its split equals it or ends with ``_wanted``."""
    if not wanted:
        return True
    if sample_split is None:
        return False
    return sample_split == wanted or sample_split.endswith("_" + wanted)
