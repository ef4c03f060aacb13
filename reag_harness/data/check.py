"""Data checks: is everything a task's run needs present and consistent, before any model loads?

Each check gives one :class:`Check` row (ok / warn / fail / skip). ``reag-eval data check`` prints
them as one table (exit 1 on any failure); a task's ``preflight()`` runs the same checks with
``deep=False`` (no file hashing) and fails the run before its first stage.

Known facts about released files (:data:`KNOWN_FILES`, :data:`KNOWN_COUNTS`) say where each came
from. A file's sha256 is computed once and remembered beside it (``FILE.sha256.json``, keyed by
size and mtime; under ``cache_dir()/checksums`` when the folder is read-only), since the EVQA KB
is ~15 GB.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..core.errors import HarnessError
from ..records import Sample
from .input_checks import sample_error

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
IMAGE_SAMPLE = 16  # images opened (fully decoded) per check; the others are only looked up

KNOWN_FILES: dict[str, dict[str, Any]] = {
    "encyclopedic_kb_wiki.json": {
        "sha256": "36af1b6718a975c355a776114be216f4800c61320897b2186d33d17a08e44c77",
        "source": "google-research/google-research encyclopedic_vqa/README.md ('To verify the download, the "
                  "sha256sum of the json file is ...')",
    },
}
KNOWN_COUNTS: dict[str, dict[str, Any]] = {
    "infoseek_val.jsonl": {
        "rows": 73620,
        "source": "aimagelab/ReflectiVA rag_evaluation/infoseek/release_retrieval.py (73620 val questions; the "
                  "ReAG reference shards the same number)",
    },
}


@dataclass
class Check:
    """One row of the data-check table."""

    name: str
    status: str
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)  # recorded in results.json "inputs" (published_facts)

    def line(self) -> str:
        return f"{self.name}: {self.detail}"


def failures(checks: Iterable[Check]) -> list[str]:
    """The failed checks as pre-flight lines."""
    return [c.line() for c in checks if c.status == FAIL]


def warnings_of(checks: Iterable[Check]) -> list[str]:
    """The warnings as pre-flight lines (shown once; the run goes on)."""
    return [c.line() for c in checks if c.status == WARN]


def published_facts(checks: Iterable[Check]) -> dict[str, Any]:
    """What the checks found about released files (``kb_sha256``, ``kb_matches_published``, ``queries_rows``, ...)
    and ``standard_data``: False when any of them differs from the published file (None when none was compared)."""
    facts: dict[str, Any] = {}
    for c in checks:
        facts.update(c.facts)
    matches = [v for k, v in facts.items() if k.endswith("_matches_published") and v is not None]
    if matches:
        facts["standard_data"] = all(matches)
    return facts


def table(checks: Sequence[Check]) -> str:
    """The checks as an aligned text table."""
    width = max([len(c.name) for c in checks] + [5])
    lines = [f"{'check':<{width}}  status  detail", f"{'-' * width}  ------  {'-' * 40}"]
    lines += [f"{c.name:<{width}}  {c.status.upper():<6}  {c.detail}" for c in checks]
    return "\n".join(lines)


# -- checksums ---------------------------------------------------------------------------------------
def _memo_paths(path: Path) -> list[Path]:
    from ..core.paths import cache_dir

    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:20]
    return [path.with_name(path.name + ".sha256.json"), cache_dir() / "checksums" / f"{key}.json"]


def remembered_sha256(path: str | os.PathLike[str], compute: bool = True) -> str | None:
    """The file's sha256: remembered (same size and mtime), else computed and remembered (or None)."""
    p = Path(path)
    st = p.stat()
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    for memo in _memo_paths(p):
        try:
            data = json.loads(memo.read_text())
        except (OSError, ValueError):
            continue
        if {k: data.get(k) for k in stamp} == stamp and isinstance(data.get("sha256"), str):
            return data["sha256"]
    if not compute:
        return None
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    for memo in _memo_paths(p):
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({**stamp, "sha256": digest, "file": str(p.resolve())}))
            os.replace(tmp, memo)
            break
        except OSError:
            continue
    return digest


def known_file_check(name: str, path: str, sha256: str | None = None, deep: bool = True,
                     fact: str = "kb") -> Check | None:
    """Compare a released file with its published checksum (None when nothing is known).

    A mismatch is a warning, never a failure: a subset, a rebuilt or a synthetic file under the
    released name is legitimate data. The facts (``{fact}_sha256``, ``{fact}_matches_published``)
    go to results.json and the leaderboard marks the row as non-standard data.
    """
    known = KNOWN_FILES.get(Path(path).name)
    if known is None:
        return None
    if sha256 is None and os.path.isfile(path):
        sha256 = remembered_sha256(path, compute=deep)
    facts: dict[str, Any] = {f"{fact}_file": Path(path).name, f"{fact}_sha256": sha256,
                             f"{fact}_published_sha256": known["sha256"]}
    if sha256 is None:
        return Check(name, SKIP, f"{Path(path).name}: sha256 not computed yet (run 'reag-eval data check' once)",
                     {**facts, f"{fact}_matches_published": None})
    if sha256 != known["sha256"]:
        return Check(name, WARN, f"{Path(path).name}: sha256 {sha256[:16]}... differs from the published "
                                 f"{known['sha256'][:16]}... ({known['source']}): a subset, rebuilt or other "
                                 "file; the run goes on and records it as non-standard data",
                     {**facts, f"{fact}_matches_published": False})
    return Check(name, OK, f"{Path(path).name}: sha256 matches the published one ({known['source']})",
                 {**facts, f"{fact}_matches_published": True})


def known_count_check(name: str, path: str, rows: int, fact: str = "queries") -> Check | None:
    """Compare a released file's row count with the published one: a mismatch is a warning (see above)."""
    known = KNOWN_COUNTS.get(Path(path).name)
    if known is None:
        return None
    facts: dict[str, Any] = {f"{fact}_file": Path(path).name, f"{fact}_rows": rows,
                             f"{fact}_published_rows": known["rows"]}
    if rows != known["rows"]:
        return Check(name, WARN, f"{Path(path).name} has {rows} rows, the released file {known['rows']} "
                                 f"({known['source']}): a subset or another version; the run goes on and records "
                                 "it as non-standard data", {**facts, f"{fact}_matches_published": False})
    return Check(name, OK, f"{Path(path).name}: {rows} rows as released", {**facts, f"{fact}_matches_published": True})


# -- samples, images, KB ------------------------------------------------------------------------------
def sample_checks(samples: Sequence[Sample], source: str, skip_errors: bool = False) -> list[Check]:
    """Questions loaded, questions the loader could not use, and their images."""
    out = [Check("queries", OK if samples else FAIL, f"{len(samples)} questions from {source}")]
    bad = [s for s in samples if s.meta.get("input_error")]
    if bad:
        shown = "; ".join(str(s.meta["input_error"]) for s in bad[:3]) + (" ..." if len(bad) > 3 else "")
        out.append(Check("question errors", WARN if skip_errors else FAIL, f"{len(bad)} unusable: {shown}"))
    not_found = [str(s.meta["input_error"]) for s in bad if "image" in str(s.meta["input_error"]).lower()]
    out.append(image_check([s for s in samples if not s.meta.get("input_error")], not_found=not_found,
                           skip_errors=skip_errors))
    return out


def image_check(samples: Sequence[Sample], n_open: int = IMAGE_SAMPLE, seed: int = 0,
                not_found: Sequence[str] = (), skip_errors: bool = False) -> Check:
    """Images found / missing, and a sample of them fully decoded (unreadable ones named).

    ``not_found``: the loader's messages for questions whose image it could not find. With
    ``skip_errors`` (``--on-error skip``) problems are warnings: those questions become recorded errors.
    """
    from PIL import Image

    with_image = [s for s in samples if s.image]
    missing = [s for s in with_image if not os.path.isfile(str(s.image))]
    present = [s for s in with_image if s not in missing] if missing else with_image
    picked = random.Random(seed).sample(present, min(n_open, len(present)))
    unreadable = []
    for s in picked:
        try:
            with Image.open(str(s.image)) as im:
                im.load()
        except Exception as exc:  # noqa: BLE001 - any decoder error means unreadable
            unreadable.append(str(sample_error(s, f"unreadable image {s.image} ({type(exc).__name__})", "image")))
    n_missing = len(missing) + len(not_found)
    detail = f"{len(present)} found, {n_missing} missing, {len(unreadable)} unreadable of {len(picked)} opened"
    if len(with_image) < len(samples):
        detail += f"; {len(samples) - len(with_image)} questions without an image"
    shown = [str(sample_error(s, f"image file not found: {s.image}", "image")) for s in missing[:3]]
    shown += list(not_found[: max(0, 3 - len(missing))])
    if shown:
        detail += "; missing: " + ", ".join(shown) + (" ..." if n_missing > 3 else "")
    if unreadable:
        detail += "; unreadable: " + ", ".join(unreadable[:3])
    bad = n_missing or unreadable
    return Check("images", (WARN if skip_errors else FAIL) if bad else OK, detail)


def kb_checks(kb: Any, samples: Sequence[Sample], deep: bool = True) -> list[Check]:
    """Pages, the released KB's checksum, and that every gold page of the questions is in the KB."""
    meta = getattr(kb, "meta", None)
    where = str(getattr(kb, "path", getattr(kb, "source", "")))
    out = [Check("knowledge base", OK if len(kb) else FAIL, f"{len(kb):,} pages ({where})")]
    source = (meta or {}).get("source") if isinstance(meta, dict) else None
    if isinstance(source, dict) and source.get("path"):
        c = known_file_check("kb checksum", str(source["path"]), source.get("sha256"), deep)
    elif where and os.path.isfile(where):
        c = known_file_check("kb checksum", where, None, deep)
    else:
        c = None
    if c is not None:
        out.append(c)
    gold = [(s.id, key) for s in samples if not s.meta.get("input_error") for key in s.meta.get("gold_pages") or []]
    absent = [(sid, key) for sid, key in gold if key not in kb]
    if not gold:
        out.append(Check("gold pages", SKIP, "the questions name no gold page"))
    elif absent:
        shown = ", ".join(f"{key} (question {sid})" for sid, key in absent[:3]) + (" ..." if len(absent) > 3 else "")
        out.append(Check("gold pages", FAIL, f"{len(absent)} of {len(gold)} gold pages are not in the KB: {shown} "
                                             "(a KB of another release, or a filtered KB)"))
    else:
        out.append(Check("gold pages", OK, f"all {len(gold)} gold pages of the questions are in the KB"))
    return out


# -- FAISS indexes -------------------------------------------------------------------------------------
def index_check(folder: str, expected_dim: int | None = None, encoder: str = "") -> Check:
    """``knn.index`` readable, its row count equal to ``knn.json``'s, its dimension the encoder's."""
    from ..core.errors import InputError
    from .retrieval.faiss_index import META_FILE, _faiss, index_files, load_keys

    try:
        index_path, keys_path = index_files(folder)
    except InputError as exc:
        return Check("faiss index", FAIL, str(exc))
    faiss = _faiss()
    try:
        try:
            index = faiss.read_index(str(index_path), faiss.IO_FLAG_MMAP_IFC)
        except RuntimeError:
            index = faiss.read_index(str(index_path))
    except RuntimeError as exc:
        return Check("faiss index", FAIL, f"{index_path} is unreadable (truncated or corrupt?): "
                                          f"{str(exc).splitlines()[0][:160]}")
    try:
        keys = load_keys(keys_path)
    except HarnessError as exc:
        return Check("faiss index", FAIL, str(exc))
    problems = []
    if len(keys) != index.ntotal:
        problems.append(f"{keys_path.name} has {len(keys):,} rows but {index_path.name} {index.ntotal:,} "
                        "(an outdated or truncated index)")
    meta_path = Path(folder) / META_FILE
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("dim") not in (None, index.d):
            problems.append(f"{META_FILE} says dimension {meta['dim']}, the index has {index.d}")
    if expected_dim is not None and expected_dim != index.d:
        problems.append(f"dimension {index.d} but the encoder {encoder} gives {expected_dim}")
    detail = f"{index.ntotal:,} rows, dimension {index.d}, {len(set(keys)):,} pages ({folder})"
    if problems:
        return Check("faiss index", FAIL, "; ".join(problems) + f" [{detail}]")
    return Check("faiss index", OK, detail + (f", matches {encoder}" if expected_dim else ""))


def load_checks(load: Any, source: str) -> tuple[list[Sample] | None, list[Check]]:
    """Run a loader; a HarnessError becomes a failed 'queries' row instead of a traceback."""
    try:
        return list(load()), []
    except (HarnessError, OSError) as exc:
        return None, [Check("queries", FAIL, f"{source}: {exc}")]
