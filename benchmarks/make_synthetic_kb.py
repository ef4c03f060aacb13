"""Synthetic EVQA / InfoSeek data: a KB JSON in the published format, query files, images, Lens CSV.

Size statistics imitate the EVQA KB (``encyclopedic_kb_wiki.json``: 2M pages, 4.9 GB zipped): a
page has 1 + Poisson(11) sections (about a dozen), section lengths are log-normal around ~90 words
(median ~60, long tail), plus titles, image URLs and captions. Text is cut from a pre-built pool of
words so that generating 200k pages takes a minute, not an hour. Pages are streamed to disk, never
held in memory. Importable (tests, the acceptance command) and a CLI::

    python benchmarks/make_synthetic_kb.py --task evqa --pages 200000 --out /tmp/synth --queries 8
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
from pathlib import Path
from typing import Any

WORDS = (
    "the of and in to a is was for on as by with from that at its which it an are were be this has "
    "species city river built century church museum tower bridge known family genus named located "
    "first population found north south east west island mountain lake capital region national park "
    "during after before between under over about also other many most some such than there these "
    "flower bird tree plant leaves height metres feet wide long old new large small red green blue "
    "architect designed style gothic roman stone iron wood painting king queen war year years"
).split()


def _pool(rng: random.Random, n_words: int = 400_000) -> str:
    """A long text of random words with sentences (periods) every 8-30 words."""
    out: list[str] = []
    left = rng.randint(8, 30)
    for _ in range(n_words):
        w = rng.choice(WORDS)
        left -= 1
        if left == 0:
            w += "."
            left = rng.randint(8, 30)
        out.append(w)
    return " ".join(out)


def page_key(i: int) -> str:
    return f"https://en.wikipedia.org/wiki/Synthetic_page_{i}"


class PageMaker:
    """Deterministic synthetic pages (one rng per generator; same seed, same KB)."""

    def __init__(self, seed: int = 0, sections_mean: float = 12.0, words_median: float = 60.0,
                 words_sigma: float = 0.9) -> None:
        self.rng = random.Random(seed)
        self.pool = _pool(self.rng)
        self.sections_mean, self.mu, self.sigma = sections_mean, math.log(words_median), words_sigma

    def _text(self, n_chars: int) -> str:
        start = self.rng.randrange(0, len(self.pool) - n_chars - 1)
        return self.pool[start:start + n_chars].strip()

    def _poisson(self, lam: float) -> int:
        # Knuth; lam is ~11 so this is cheap.
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def evqa_page(self, i: int) -> dict[str, Any]:
        n_sections = 1 + self._poisson(self.sections_mean - 1)
        title = f"Synthetic page {i}"
        texts = []
        for _ in range(n_sections):
            words = max(3, int(self.rng.lognormvariate(self.mu, self.sigma)))
            texts.append(self._text(min(words * 6, 30_000)))
        texts[0] = f"{title} is a synthetic entity number {i}. " + texts[0]
        n_images = self.rng.randint(0, 4)
        return {
            "title": title,
            "section_titles": [title] + [f"Section {s}" for s in range(1, n_sections)],
            "section_texts": texts,
            "image_urls": [f"https://upload.wikimedia.org/synthetic/{i}_{k}.jpg" for k in range(n_images)],
            "image_reference_descriptions": [self._text(60) for _ in range(n_images)],
            "image_section_indices": [self.rng.randrange(n_sections) for _ in range(n_images)],
            "url": page_key(i),
        }

    def infoseek_page(self, i: int) -> dict[str, Any]:
        n_words = max(20, int(self.rng.lognormvariate(math.log(600), 0.8)))
        return {"title": f"Synthetic page {i}",
                "wikipedia_content": f"Synthetic page {i} is an entity. " + self._text(min(n_words * 6, 200_000))}


def write_kb(path: str | Path, n_pages: int, task: str = "evqa", seed: int = 0,
             pages: dict[str, dict[str, Any]] | None = None) -> Path:
    """Stream a KB JSON (one object keyed by URL) with ``n_pages`` synthetic pages (+ ``pages``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    maker = PageMaker(seed)
    make = maker.evqa_page if task == "evqa" else maker.infoseek_page
    with open(path, "w", encoding="utf-8") as f:
        f.write("{")
        first = True
        for key, entry in (pages or {}).items():
            f.write(("" if first else ", ") + json.dumps(key) + ": " + json.dumps(entry))
            first = False
        for i in range(n_pages):
            f.write(("" if first else ", ") + json.dumps(page_key(i)) + ": " + json.dumps(make(i)))
            first = False
        f.write("}")
    return path


def write_image(path: str | Path, colour: tuple[int, int, int] = (120, 60, 30), size: int = 32) -> Path:
    """A small PNG (PIL)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)
    return path


def write_evqa_queries(out_dir: str | Path, n: int, n_pages: int, fmt: str = "json", seed: int = 0) -> dict[str, Path]:
    """``n`` EVQA questions over the first ``n_pages`` synthetic pages, their images and a Lens CSV.

    ``fmt`` "json" writes the ReAG pre-packaged JSON (``queries.json``), "csv" the official
    ``test.csv`` layout. Images go to ``images/{dataset_image_id}.png``.
    """
    rng = random.Random(seed)
    out = Path(out_dir)
    images = out / "images"
    types = ["templated", "automatic", "multi_answer", "2_hop"]
    rows = []
    for q in range(n):
        page = rng.randrange(max(1, n_pages))
        qtype = types[q % len(types)]
        image_id = f"img{q:05d}"
        write_image(images / f"{image_id}.png", (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        url = page_key(page) + ("|" + page_key((page + 1) % max(1, n_pages)) if qtype == "2_hop" else "")
        rows.append({
            "unique_id": f"q{q}", "question": f"What is synthetic entity {page} known for?",
            "answer": "entity|synthetic entity" if qtype != "multi_answer" else "red&&blue",
            "question_type": qtype, "wikipedia_url": url,
            "evidence_section_id": "0|0" if qtype == "2_hop" else 0,
            "dataset_image_ids": image_id, "dataset_name": "synthetic",
        })
    paths: dict[str, Path] = {"images": images}
    if fmt == "csv":
        p = out / "test.csv"
        with open(p, "w", newline="", encoding="utf-8") as f:
            fields = ["question", "answer", "dataset_image_ids", "dataset_name", "question_type", "wikipedia_url",
                      "evidence_section_id", "encyclopedic_vqa_split"]
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for r in rows:
                w.writerow({k: r.get(k, "test") for k in fields})
        paths["queries"] = p
    else:
        p = out / "queries.json"
        p.write_text(json.dumps(rows, indent=1))
        paths["queries"] = p
    lens = out / "lens_entities.csv"
    with open(lens, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["dataset_image_id", "lens_wiki_urls"])
        for r in rows:
            w.writerow([r["dataset_image_ids"], repr([r["wikipedia_url"].split("|")[0], "", page_key(n_pages + 7)])])
    paths["lens"] = lens
    return paths


def write_infoseek_queries(out_dir: str | Path, n: int, n_pages: int, seed: int = 0) -> dict[str, Path]:
    """``n`` InfoSeek questions (ReAG-style JSONL with answer_eval/data_split), a qtype file, images."""
    rng = random.Random(seed)
    out = Path(out_dir)
    images = out / "images"
    lines, qtypes = [], []
    kinds = ["STRING", "NUMERICAL", "TIME"]
    for q in range(n):
        page = rng.randrange(max(1, n_pages))
        kind = kinds[q % 3]
        image_id = f"oven_{q:08d}"
        write_image(images / f"{image_id}.jpg", (rng.randrange(256), 0, 0))
        answer_eval: Any = {"STRING": ["entity"], "NUMERICAL": [{"range": [90, 110]}], "TIME": ["1990"]}[kind]
        lines.append({"data_id": f"val_{q:08d}", "image_id": image_id, "question": f"What is entity {page}?",
                      "answer": ["entity"] if kind != "NUMERICAL" else ["100"], "answer_eval": answer_eval,
                      "data_split": "val_unseen_question" if q % 2 == 0 else "val_unseen_entity",
                      "passage_id": page_key(page)})
        qtypes.append({"data_id": f"val_{q:08d}", "question_type": kind})
    (out / "queries.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (out / "qtypes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in qtypes))
    return {"queries": out / "queries.jsonl", "qtypes": out / "qtypes.jsonl", "images": images}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", choices=("evqa", "infoseek"), default="evqa")
    ap.add_argument("--pages", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=8)
    ap.add_argument("--format", choices=("json", "csv"), default="json", help="EVQA query format")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    kb = write_kb(out / "kb.json", args.pages, args.task, args.seed)
    if args.task == "evqa":
        paths = write_evqa_queries(out, args.queries, args.pages, args.format, args.seed)
    else:
        paths = write_infoseek_queries(out, args.queries, args.pages, args.seed)
    print(json.dumps({"kb": str(kb), "kb_bytes": kb.stat().st_size, **{k: str(v) for k, v in paths.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
