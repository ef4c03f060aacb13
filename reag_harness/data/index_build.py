"""``reag-eval index build``: a FAISS index over a knowledge base, in the released ReAG layout.

Writes ``knn.index`` + ``knn.json`` (row i -> ``[key, ...]``) + ``knn.meta.json`` to
``--output``. Sources:

- ``images``: one row per page image (like the EVQA ``evqa_EVA_image`` index); the page's
  image paths come from the page field ``--image-field`` (default ``image_paths``: a list of
  paths, or one path), relative to ``--images-root``; rows are ``[key, image_path]``.
- ``summaries``: one row per page, the text of ``--text-field`` (default ``summary``; pages
  without it use their first passage), encoded with the text tower (like InfoSeek's
  ``infoseek_EVA_text_summary``; the text is truncated to the tokenizer's context).
- ``titles``: one row per page, its title through the text tower.

Cheap to import: torch, open_clip and FAISS load only in :func:`run`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from ..core.errors import HarnessError, InputError

SOURCES = ("images", "summaries", "titles")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="index_command", metavar="ACTION")
    sub.required = True
    b = sub.add_parser("build", help="encode a KB's pages and write knn.index + knn.json",
                       description="Encode a knowledge base's pages and write a FAISS index in the ReAG layout.")
    b.add_argument("--kb", required=True, help="KB .json file (one object keyed by URL) or a KB store folder")
    b.add_argument("--source", choices=SOURCES, default="images", help="what to embed (default: images)")
    b.add_argument("--images-root", default="", help="folder the page image paths are relative to")
    b.add_argument("--image-field", default="image_paths", help="page field holding its image path(s)")
    b.add_argument("--text-field", default="summary", help="page field embedded by --source summaries")
    b.add_argument("--encoder", choices=("open_clip", "transformers", "hf", "native"), default="native",
                   help="encoder backend: native = BAAI/EVA-CLIP-8B's hub weights in the project's own code (the "
                        "default), transformers = the same through its remote code, open_clip = any "
                        "open_clip model, hf = a transformers CLIP/SigLIP checkpoint")
    b.add_argument("--model", default="BAAI/EVA-CLIP-8B", help="open_clip model name or transformers model id")
    b.add_argument("--pretrained", default=None, help="checkpoint file / open_clip tag / local model folder "
                   "(required with --encoder open_clip unless --random-weights)")
    b.add_argument("--random-weights", action="store_true",
                   help="allow an open_clip model without --pretrained: random weights, seeded with --seed "
                        "(for trials only: a retriever reads such an index meaningfully only with the same seed)")
    b.add_argument("--seed", type=int, default=0, help="seed of --random-weights (default 0)")
    b.add_argument("--trust-remote-code", action="store_true", help="allow the transformers model's own code")
    b.add_argument("--factory", default="Flat", help="FAISS index_factory string (default: Flat)")
    b.add_argument("--metric", choices=("inner_product", "l2"), default="inner_product")
    b.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    b.add_argument("--dtype", default=None, help="float32, float16, bfloat16 (default: fp16 on GPU, fp32 on CPU)")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--limit", type=int, default=None, help="only the first N pages (trials)")
    b.add_argument("--output", required=True, help="output folder")
    b.add_argument("--quiet", action="store_true", help="no progress (bar on a terminal, else a line per 30 s)")


def open_kb(path: str) -> Any:
    """A KB from a ``.json`` file (in memory) or a KB store folder (``reag_harness.data.kb.store``)."""
    p = Path(path).expanduser()
    if p.is_file():
        from .kb.memory import InMemoryKB

        return InMemoryKB.from_json(str(p))
    if p.is_dir():
        try:
            from .kb import store
        except ImportError as exc:
            raise HarnessError(f"{path}: a KB store folder needs reag_harness.data.kb.store ({exc})") from exc
        for name in ("open_kb", "open_store", "load"):
            opener = getattr(store, name, None)
            if callable(opener):
                return opener(str(p))
        raise HarnessError(f"{path}: reag_harness.data.kb.store has no open_kb(path)")
    raise InputError(path, "knowledge base not found", field="kb")


def _page(kb: Any, key: str) -> dict[str, Any]:
    page = getattr(kb, "page", None)
    return dict(page(key)) if callable(page) else {}


def page_image_paths(kb: Any, key: str, field: str, root: str) -> list[str]:
    """The page's image files: ``page(key)[field]`` (a list of paths or one path) under ``root``."""
    value = _page(kb, key).get(field)
    if value is None:
        return []
    paths = [value] if isinstance(value, str) else list(value)
    return [str(Path(root) / v) if root and not Path(v).is_absolute() else str(v) for v in paths]


def iter_rows(kb: Any, args: argparse.Namespace) -> Iterator[tuple[list[str], str]]:
    """``([key, extra...], what_to_encode)`` for every index row, in KB order."""
    keys = list(kb.keys())[: args.limit] if args.limit else list(kb.keys())
    for key in keys:
        if args.source == "titles":
            yield [key], kb.title(key) or key
        elif args.source == "summaries":
            text = _page(kb, key).get(args.text_field)
            if not text:
                passages = kb.passages(key)
                text = passages[0] if passages else kb.title(key)
            yield [key], str(text)
        else:
            for image in page_image_paths(kb, key, args.image_field, args.images_root):
                yield [key, image], image


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Encode the rows and write the index; returns what was written."""
    import numpy as np

    from ..models.clip_encoders import open_images
    from ..models.clip_loader import load_encoder
    from .retrieval.faiss_index import build_index

    random_weights = args.encoder == "open_clip" and not args.pretrained
    if random_weights and not getattr(args, "random_weights", False):
        raise HarnessError(f"index build: --encoder open_clip --model {args.model} without --pretrained would use "
                           "random weights that no retriever shares; pass --pretrained FILE_OR_TAG (the checkpoint "
                           "the retriever will use), or --random-weights for a trial index")
    kb = open_kb(args.kb)
    rows = list(iter_rows(kb, args))
    if not rows:
        hint = f" (no page has image paths in field '{args.image_field}')" if args.source == "images" else ""
        raise InputError(args.kb, f"nothing to index{hint}")
    if random_weights:
        import torch

        torch.manual_seed(int(getattr(args, "seed", 0)))
    enc = load_encoder(args.encoder, args.model, args.pretrained, args.device, args.dtype, args.batch_size,
                       args.trust_remote_code)
    from ..core.progress import StageProgress

    progress = StageProgress("encode", len(rows), unit="row", prefix="index build",
                             disable=bool(getattr(args, "quiet", False)))
    progress.start()
    t0 = time.perf_counter()
    chunks = []
    for i in range(0, len(rows), args.batch_size):
        batch = [what for _, what in rows[i : i + args.batch_size]]
        if args.source == "images":
            chunks.append(enc.encode_images(open_images(batch), args.batch_size))
        else:
            chunks.append(enc.encode_texts(batch, args.batch_size))
        progress.update(len(batch), time.perf_counter() - t0)
    vectors = np.concatenate(chunks, axis=0)
    seconds = time.perf_counter() - t0
    meta = {"source": args.source, "encoder": enc.identity(), "kb": str(args.kb),
            "kb_fingerprint": kb.fingerprint() if hasattr(kb, "fingerprint") else None,
            "random_weights": {"seed": int(getattr(args, "seed", 0))} if random_weights else None}
    out = build_index(vectors, [r for r, _ in rows], args.output, factory=args.factory, metric=args.metric, meta=meta)
    return {"output": str(out), "rows": len(rows), "pages": len({r[0] for r, _ in rows}), "dim": int(vectors.shape[1]),
            "encode_seconds": round(seconds, 2)}


def run(args: argparse.Namespace) -> int:
    if getattr(args, "index_command", None) != "build":
        raise HarnessError("usage: reag-eval index build --kb KB --output DIR [...]")
    done = build(args)
    print(f"wrote {done['rows']} rows ({done['pages']} pages, dim {done['dim']}) to {done['output']} "
          f"in {done['encode_seconds']} s of encoding", file=sys.stderr)
    return 0
