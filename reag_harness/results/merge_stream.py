"""``merge``'s sample pass in bounded memory: shard rows are located, then copied one at a time.

The first pass reads each shard's ``samples.jsonl`` once and keeps only ``id -> (shard, byte offset)``
(refusing an id found twice); the second writes the rows in task order, reading each from its
shard, so no shard is ever held whole. Passage texts a shard stored (kept passages, texts that
are not the KB's) are carried over; the rest stay references to the KB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any, Mapping, Sequence

from ..core.errors import HarnessError, InputError
from ..core.jsonio import parse_line
from ..records import Sample
from .retrieval_quality import RetrievalQuality
from .run_files import SAMPLES_FILE, PassageTextWriter, check_sample_log, load_passage_texts


def locate_rows(shard_dirs: Sequence[Path]) -> dict[str, tuple[int, int]]:
    """``sample id -> (shard number, byte offset of its line)``; an id in two shards is refused."""
    where: dict[str, tuple[int, int]] = {}
    for number, folder in enumerate(shard_dirs):
        path = folder / SAMPLES_FILE
        if not path.is_file():
            raise InputError(str(path), "not found: is this a run folder?")
        offset = 0
        with open(path, "rb") as fh:
            for line_no, raw in enumerate(fh, 1):
                if raw.strip():
                    row = parse_line(path, line_no, raw)
                    check_sample_log(row, str(path), line_no)  # types and domains, file:line:field
                    sid = row["id"]
                    if sid in where:
                        raise HarnessError(f"sample '{sid}' appears in more than one shard")
                    where[sid] = (number, offset)
                offset += len(raw)
    return where


class MergedSamples:
    """What the merged ``results.json`` needs from the rows: samples, scores, retrieval quality."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.scores: list[dict[str, Any]] = []
        self.quality = RetrievalQuality()


def write_merged(shard_dirs: Sequence[Path], order: Mapping[str, int], sample_fh: IO[str],
                 text_fh: IO[str]) -> MergedSamples:
    """Write the shards' rows in task order (unknown ids last, in shard order) with their stored texts."""
    where = locate_rows(shard_dirs)
    ids = sorted(where, key=lambda sid: (order.get(sid, len(order)), where[sid]))
    texts = [load_passage_texts(d) for d in shard_dirs]
    files = [open(d / SAMPLES_FILE, "rb") for d in shard_dirs]
    writer = PassageTextWriter(text_fh)
    out = MergedSamples()
    try:
        for sid in ids:
            number, offset = where.pop(sid)
            files[number].seek(offset)
            row = json.loads(files[number].readline())
            shard_texts = texts[number]
            for p in row.get("passages") or []:
                if "text" not in p:
                    text = shard_texts.get((str(p["page_key"]), int(p["index"])))
                    if text is not None:
                        p["text"] = text
            out.samples.append(Sample.from_json(row))
            out.scores.append(row.get("score") or {})
            out.quality.add_row(row)
            sample_fh.write(json.dumps(writer.by_reference(row)) + "\n")
    finally:
        for fh in files:
            fh.close()
    return out
