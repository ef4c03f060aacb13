"""``reag-eval view``: the per-sample viewer of one run, or of two runs of a task side by side.

Shapes the run folders into the data of one self-contained page (``web/viewer.html.j2``): per
sample the query image (a small embedded thumbnail, or a path to the image), question, references,
retrieved pages with scores (gold marked), every passage with its critic probability and kept flag
(gold evidence marked), reasoning, answer, correctness and error. Page keys and passage texts are
stored once in tables and referenced by index, since the same pages recur across samples.

Two runs: the paired classes ("A right, B wrong", ...) come from :func:`reag_harness.results.compare.discordant`
on the samples both runs have, and the summary from :func:`reag_harness.results.compare.compare_runs`, so the
page's counts equal ``reag-eval compare``'s.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..core.errors import HarnessError
from .run_files import load_results, load_sample_logs, run_folder

THUMB_PX = 96
#: ``--thumbnails auto`` embeds thumbnails up to this many distinct images, then links to the files.
AUTO_EMBED_MAX = 2000
PAGE_SIZE = 25
#: Samples per lazily parsed detail block: the first page parses one block, not the whole run.
CHUNK = 500
RETRIEVAL_KEYS = ("recall@1", "recall@5", "recall@10", "recall@20", "passages_kept_mean", "passages_to_critic_mean",
                  "all_filtered")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping) and "score" in value:
        return _number(value["score"])
    return None


class Tables:
    """Interned page keys and passages: each text is stored once in the page."""

    def __init__(self) -> None:
        self.pages: list[str] = []
        self.passages: list[list[Any]] = []
        self._page_ids: dict[str, int] = {}
        self._passage_ids: dict[tuple[str, int, str], int] = {}

    def page(self, key: str) -> int:
        if key not in self._page_ids:
            self._page_ids[key] = len(self.pages)
            self.pages.append(key)
        return self._page_ids[key]

    def passage(self, page_key: str, index: int, text: str) -> int:
        key = (page_key, index, text)
        if key not in self._passage_ids:
            self._passage_ids[key] = len(self.passages)
            self.passages.append([self.page(page_key), index, text])
        return self._passage_ids[key]


def thumbnail(path: str) -> str | None:
    """A small JPEG data URL of the image at ``path`` (None when it cannot be read)."""
    try:
        from PIL import Image

        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((THUMB_PX, THUMB_PX))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=70)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_sources(paths: Sequence[str], mode: str, output: Path) -> list[str | None]:
    """What each image shows as: a data URL (``embed``), a path relative to the page (``link``), or nothing."""
    if mode == "auto":
        mode = "embed" if len(paths) <= AUTO_EMBED_MAX else "link"
    if mode == "none":
        return [None] * len(paths)
    if mode == "embed":
        return [thumbnail(p) for p in paths]
    from .links import relative_href

    return [relative_href(p, output.resolve().parent) for p in paths]  # None on another drive (Windows)


def _run_view(log: Mapping[str, Any], tables: Tables, gold: set[str]) -> dict[str, Any]:
    pages = [[tables.page(str(k)), round(float(s), 4)] for k, s in (log.get("retrieved_pages") or [])]
    passages = [[tables.passage(str(p["page_key"]), int(p["index"]), str(p.get("text") or "")),
                 None if p.get("p_yes") is None else round(float(p["p_yes"]), 4), int(bool(p.get("kept")))]
                for p in log.get("passages") or []]
    score = log.get("score") or {}
    correct = _number(score.get("correct"))
    answer, reasoning = log.get("answer"), log.get("reasoning")
    crop = (log.get("retrieval_info") or {}).get("crop")
    return {
        "crop": {k: crop.get(k) for k in ("used", "entity", "reason", "box")} if isinstance(crop, Mapping) else None,
        "pages": pages, "ps": passages, "answer": answer, "reasoning": reasoning,
        "raw": log.get("raw_output") if answer is None or reasoning is None else None,
        "c": None if correct is None else int(correct == 1.0), "error": log.get("error"),
        "gr": bool(gold & {str(k) for k, _ in log.get("retrieved_pages") or []}) if gold else None,
        "af": bool(passages) and not any(p[2] for p in passages),
    }


def _components_line(results: Mapping[str, Any]) -> str:
    comps = results.get("components") or {}
    parts = []
    for kind in ("retriever", "critic", "generator", "prompt_style"):
        c = comps.get(kind)
        if c:
            label = c.get("label") if kind == "generator" else None
            parts.append(f"{kind.replace('_', ' ')} {c.get('name')}" + (f" {label}" if label else ""))
    from .run_identity import scoring_note

    note = scoring_note(results)
    return ", ".join(parts + ([note] if note else [])) or "components unknown (no results.json)"


def _run_info(label: str, folder: Path, results: Mapping[str, Any], n: int) -> dict[str, Any]:
    headline = str(results.get("headline_metric") or "accuracy")
    rq = results.get("retrieval_quality") or {}
    return {
        "label": label, "dir": str(folder), "run_id": results.get("run_id", folder.name),
        "task": results.get("task", "?"), "split": results.get("split"), "n": n, "headline_metric": headline,
        "headline": _number((results.get("metrics") or {}).get(headline)),
        "retrieval": {k: rq[k] for k in RETRIEVAL_KEYS if rq.get(k) is not None},
        "components": _components_line(results),
    }


def viewer_data(runs: Sequence[str | Path], output: Path, thumbnails: str = "auto",
                page_size: int = PAGE_SIZE) -> dict[str, Any]:
    """The page data of one run, or of two runs side by side (A = the first)."""
    if not 1 <= len(runs) <= 2:
        raise HarnessError("'reag-eval view' takes one run folder, or two to compare")
    folders = [run_folder(r) for r in runs]
    logs = [load_sample_logs(f) for f in folders]
    results = [load_results(r) for r in runs]  # a run folder, or one of its results_<time>.json
    by_id = [{str(s["id"]): s for s in run_logs} for run_logs in logs]
    order = [str(s["id"]) for s in logs[0]]
    if len(runs) == 2:
        order += [str(s["id"]) for s in logs[1] if str(s["id"]) not in by_id[0]]
    tables, images, image_ids, samples, qtypes = Tables(), [], {}, [], set()
    for sid in order:
        first = next(run[sid] for run in by_id if sid in run)
        meta = first.get("meta") or {}
        gold = {str(k) for k in meta.get("gold_pages") or []}
        image = first.get("image")
        if image is not None and str(image) not in image_ids:
            image_ids[str(image)] = len(images)
            images.append(str(image))
        qtype = meta.get("question_type")
        if qtype is not None:
            qtypes.add(str(qtype))
        evidence = meta.get("evidence_section_id")
        samples.append({
            "id": sid, "q": str(first.get("question") or ""), "refs": [str(r) for r in first.get("references") or []],
            "img": None if image is None else image_ids[str(image)], "qt": None if qtype is None else str(qtype),
            "gold": [tables.page(g) for g in sorted(gold)], "ev": None if evidence is None else int(evidence),
            "r": [_run_view(run[sid], tables, gold) if sid in run else None for run in by_id],
        })
    data: dict[str, Any] = {
        "runs": [_run_info("AB"[i] if len(runs) == 2 else "", f, res, len(lg))
                 for i, (f, res, lg) in enumerate(zip(folders, results, logs))],
        "samples": samples, "pages": tables.pages, "passages": tables.passages,
        "images": image_sources(images, thumbnails, output), "qtypes": sorted(qtypes), "page_size": page_size,
    }
    if len(runs) == 2:
        data["pair"] = pair_classes(folders, by_id, samples)
    return data


DETAIL_KEYS = ("pages", "ps", "reasoning", "raw")


def split_details(data: dict[str, Any]) -> list[list[Any]]:
    """Move each sample's bulky part (pages, passages, reasoning, raw output) into blocks of CHUNK samples."""
    details = []
    for s in data["samples"]:
        details.append([None if r is None else {k: r.pop(k) for k in DETAIL_KEYS} for r in s["r"]])
    data["chunk"] = CHUNK
    return [details[i:i + CHUNK] for i in range(0, len(details), CHUNK)]


def pair_classes(folders: Sequence[Path], by_id: Sequence[Mapping[str, Mapping]], samples: list[dict]) -> dict:
    """Mark each shared sample a / b / both / neither (as ``compare``) and return compare's overall summary."""
    from .compare import compare_runs, discordant, paired_scores

    report = compare_runs(folders[0], folders[1], n_boot=1000)
    overall = next((c for c in report["comparisons"] if c["metric"] == "correct" and c["group"] == "all"), None)
    if overall is None:
        raise HarnessError("the runs share no per-sample 'correct' score: nothing to pair")
    ids = sorted(set(by_id[0]) & set(by_id[1]))
    a, b = paired_scores(by_id[0], by_id[1], ids, "correct")
    only_a, only_b = (set(ids[i] for i in pos) for pos in discordant(a, b))
    both = {i for i, x, y in zip(ids, a, b) if x == 1.0 and y == 1.0}
    shared = set(ids)
    for s in samples:
        sid = s["id"]
        s["pc"] = None if sid not in shared else "a" if sid in only_a else "b" if sid in only_b else \
            "both" if sid in both else "neither"
    keys = ("n", "a", "b", "diff", "ci", "test", "p_value", "n_a_only", "n_b_only")
    return {k: overall.get(k) for k in keys} | {"warnings": report["warnings"]}


def write_viewer(runs: Sequence[str | Path], output: str | Path | None = None, thumbnails: str = "auto",
                 page_size: int = PAGE_SIZE) -> Path:
    """Write the viewer page; by default ``RUN/viewer.html`` (two runs: ``RUN_A/viewer_vs_<B>.html``)."""
    from .pages import render_page

    folders = [run_folder(r) for r in runs]
    if output is None:
        output = folders[0] / ("viewer.html" if len(folders) == 1 else f"viewer_vs_{folders[1].name}.html")
    out = Path(output)
    data = viewer_data(runs, out, thumbnails, page_size)
    title = "Run viewer: " + " vs ".join(r["run_id"] for r in data["runs"])
    chunks = split_details(data)
    html = render_page("viewer.html.j2", title=title, data=data, chunks=chunks)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out
