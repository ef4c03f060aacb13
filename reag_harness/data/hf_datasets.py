"""Questions from a Hugging Face ``datasets`` dataset (``--task-args dataset=PATH_OR_ID[,dataset_split=S]``).

``PATH_OR_ID`` is a folder written by ``Dataset.save_to_disk`` (read with ``load_from_disk``), a
local folder or file of Parquet / Arrow / JSON / CSV (read with ``load_dataset``), or a hub id
that is already in the local ``datasets`` cache: hub ids are read offline, never downloaded.
Rows come out as ``(row number, dict)`` (1-based) so the task loaders validate them exactly as
they validate a file, and their errors name the dataset, the row and the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from ..core.errors import HarnessError


def _offline() -> None:
    """Hub ids come from the local cache only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        import datasets.config as config

        config.HF_HUB_OFFLINE = True
        config.HF_DATASETS_OFFLINE = True
    except (ImportError, AttributeError):
        pass


def load(spec: str, split: str | None = None) -> Any:
    """The ``datasets.Dataset`` of ``spec`` (one split)."""
    try:
        import datasets
    except ImportError as exc:
        raise HarnessError("dataset= needs the 'datasets' package: pip install 'reag-harness[data]'") from exc
    path = Path(spec).expanduser()
    try:
        if path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()
                              or (path / "state.json").is_file()):
            data = datasets.load_from_disk(str(path))
        elif path.exists():
            data = _load_local(datasets, path)
        else:
            _offline()
            data = datasets.load_dataset(spec)
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001 - datasets raises many kinds; the user needs one line
        where = "local" if path.exists() else "hub id (looked in the local cache only, offline)"
        raise HarnessError(f"dataset {spec!r} ({where}) could not be loaded: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:300]}") from exc
    if isinstance(data, datasets.DatasetDict):
        names = list(data)
        if split is None and len(names) == 1:
            split = names[0]
        if split not in data:
            raise HarnessError(f"dataset {spec!r} has splits {', '.join(names)}: choose one with dataset_split=NAME")
        data = data[split]
    elif split not in (None, "", getattr(data, "split", None) or split):
        raise HarnessError(f"dataset {spec!r} has a single split; dataset_split={split!r} does not apply")
    return data


def _load_local(datasets: Any, path: Path) -> Any:
    builders = {".parquet": "parquet", ".arrow": "arrow", ".json": "json", ".jsonl": "json", ".csv": "csv"}
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in builders)
    kinds = {builders[p.suffix] for p in files}
    if len(kinds) != 1:
        found = ", ".join(sorted(kinds)) or "none"
        raise HarnessError(f"dataset folder {path}: expected files of one format (parquet, arrow, json, csv), "
                           f"found {found}")
    return datasets.load_dataset(kinds.pop(), data_files=[str(p) for p in files], split="train")


def iter_rows(spec: str, split: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number, row)`` for every row of the dataset (1-based)."""
    for i, row in enumerate(load(spec, split)):
        yield i + 1, dict(row)


def label(spec: str, split: str | None = None) -> str:
    """How errors name the dataset: ``PATH_OR_ID[split]`` (row numbers are given as lines)."""
    return f"dataset {spec}" + (f"[{split}]" if split else "")


def fingerprint(spec: str, split: str | None = None) -> str:
    """The dataset's own content fingerprint (``datasets`` computes it from the data files)."""
    return str(getattr(load(spec, split), "_fingerprint", "")) or spec
