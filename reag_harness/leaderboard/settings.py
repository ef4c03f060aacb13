"""The setting columns and links of leaderboard rows: what makes two rows comparable or not.

Columns: knowledge base, retriever and k, critic, model size, trained or training-free. Reported
rows take them from ``web/published_annotations.json`` (by row id; links by citation source);
measured rows from their run's components. Unknown values stay ``None`` (shown as a dash).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from .schema import task_family

SETTING_KEYS = ("kb", "retriever", "k", "critic", "size", "training")
#: Checkpoints trained for KB-VQA (the rest are zero-shot, training-free generators and critics).
TRAINED_PATTERN = re.compile(r"reag|reflectiva|wiki-prf|vlm-prf|echosight", re.IGNORECASE)


@lru_cache(maxsize=1)
def annotations() -> dict[str, Any]:
    from ..results.pages import web_file

    return json.loads(web_file("published_annotations.json"))


def model_size(text: str | None) -> str | None:
    """``"7B"`` from ``Qwen/Qwen2.5-VL-7B-Instruct``; ``"tiny"`` for the harness's tiny checkpoints."""
    if not text:
        return None
    if "tiny" in text.lower():
        return "tiny"
    sizes = re.findall(r"(?<![\w.])(\d+(?:\.\d+)?)\s*[Bb](?![a-zA-Z])", text.replace("-", " ").replace("_", " "))
    return f"{sizes[-1]}B" if sizes else None


def reported_setting(row: Mapping[str, Any], task: str) -> dict[str, Any]:
    notes = annotations()
    given = dict(notes["settings"].get(row["id"], {}))
    return {
        "kb": given.get("kb", notes["kb"].get(task)), "retriever": given.get("retriever"), "k": given.get("k"),
        "critic": given.get("critic"), "size": model_size(row.get("generator")), "training": given.get("training"),
    }


def citation_links(citation: str) -> dict[str, str]:
    """A reported row's paper/code links (``http(s)`` only: :func:`reag_harness.results.links.safe_url`)."""
    from ..results.links import safe_url

    links = {k: safe_url(v) for k, v in annotations()["links"].get(citation, {}).items()}
    return {k: v for k, v in links.items() if v}


def _arg(args: Mapping[str, Any], *names: str) -> Any:
    return next((args[n] for n in names if args.get(n) is not None), None)


def measured_setting(entry: Mapping[str, Any]) -> dict[str, Any]:
    comps = entry.get("components") or {}
    retriever, critic, generator = (comps.get(k) or {} for k in ("retriever", "critic", "generator"))
    task_args = (comps.get("task") or {}).get("args") or {}
    kb = _arg(task_args, "kb", "kb_path")
    critic_args = critic.get("args") or {}
    rule = [f"{k} {critic_args[k]}" for k in ("threshold", "top_n") if critic_args.get(k) is not None]
    has_critic = critic.get("name") not in (None, "", "none") and bool(rule)
    checkpoints = " ".join(str(c.get("checkpoint") or c.get("name") or "") for c in comps.values())
    return {
        "kb": Path(str(kb)).name if kb else f"{entry['task']} default",
        "retriever": retriever.get("name"), "k": _arg(retriever.get("args") or {}, "top_k", "k"),
        "critic": f"{critic['name']} ({', '.join(rule)})" if has_critic else "none",
        "size": measured_size(generator),
        "training": "trained" if TRAINED_PATTERN.search(checkpoints) else "training-free",
    }


def measured_size(generator: Mapping[str, Any]) -> str | None:
    """The generator's parameter count from its checkpoint (never from a name); None when unknown."""
    from ..results.run_identity import human_size

    return human_size(generator.get("n_params"))


def run_extras(results: Any, r: Mapping[str, Any]) -> dict[str, Any]:
    """The run folder, recall@k and the headline's bootstrap interval (from the run's samples, when found)."""
    extras: dict[str, Any] = {}
    run_dir = (r.get("config") or {}).get("run_dir")
    if isinstance(results, (str, Path)):
        run_dir = str(Path(results).parent if Path(results).is_file() else Path(results))
    if run_dir:
        extras["run_dir"] = str(Path(run_dir).resolve())
    inputs = r.get("inputs") or {}
    differs = [f"{inputs.get(k[:-len('_matches_published')] + '_file') or k}" for k, v in inputs.items()
               if k.endswith("_matches_published") and v is False]
    if differs:  # a checksum or row count differs from the published file (data_check.published_facts)
        extras["nonstandard_data"] = differs
    rq = {k: v for k, v in (r.get("retrieval_quality") or {}).items() if isinstance(v, (int, float))}
    if rq:
        extras["retrieval_quality"] = rq
    if run_dir and (Path(run_dir) / "samples.jsonl").is_file():
        from ..results.run_files import load_sample_logs
        from .intervals import headline_interval

        interval = headline_interval(task_family(str(r["task"])), load_sample_logs(run_dir, texts=False))
        if interval is not None:
            extras["interval"] = interval
    return extras


def run_links(entry: Mapping[str, Any], page_dir: Path | None) -> dict[str, str]:
    """Links of a measured row to its run folder's ``results.json`` and viewer page (where they exist)."""
    run_dir = entry.get("run_dir")
    if not run_dir:
        return {}
    folder = Path(run_dir)
    out = {}
    for name, file in (("results", "results.json"), ("viewer", "viewer.html")):
        path = folder / file
        href = _href(path, page_dir) if path.is_file() else None
        if href:
            out[name] = href
    if "viewer" not in out:
        out["viewer_hint"] = f"reag-eval view {folder}"
    return out


def _href(path: Path, page_dir: Path | None) -> str | None:
    """For a page: a percent-encoded path relative to it (never a ``file:`` or other scheme's URL; None
    without one). Without a page (JSON output): the file's ``file:`` URI."""
    from ..results.links import relative_href

    return path.resolve().as_uri() if page_dir is None else relative_href(path, page_dir)
