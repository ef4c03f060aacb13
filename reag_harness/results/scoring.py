"""``reag-eval score``: score existing predictions with the official InfoSeek / EVQA metrics.

Predictions may be official ``{data_id, prediction}`` JSONL, a harness ``samples.jsonl`` (``id`` +
``prediction`` or ``answer``), a JSON list (e.g. one ReAG ``split_N.json``) or a ReAG run folder (all its
``split_*.json`` merged). References: InfoSeek ``infoseek_val.jsonl`` (+ ``--qtypes
infoseek_val_qtype.jsonl``); EVQA's official CSV (the 0-based row index is the id) or JSON / JSONL
with ``data_id`` (or ``unique_id``), ``question``, ``answer``, ``question_type``. Reading them:
:mod:`reag_harness.results.scoring_inputs`; matching ids: :mod:`reag_harness.results.scoring_ids`.

Writes ``results.json`` and ``samples.jsonl`` into ``--output-dir``. Import is cheap: TensorFlow is
only imported when EVQA is scored with BEM.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

from reag_harness.core.atomic import replace_at_end
from reag_harness.core.errors import HarnessError
from reag_harness.results.files import new_results_path, prepare_run_folder, write_results
from reag_harness.results.scoring_ids import align_predictions, check_coverage
from reag_harness.results.scoring_inputs import (
    EvqaReference,
    InfoSeekReference,
    Predictions,
    read_evqa_references,
    read_infoseek_references,
    read_predictions,
)

__all__ = [
    "configure",
    "evaluate_module_path",
    "run",
    "score_predictions",
]

INFOSEEK_OFFICIAL_LABEL = (
    "as printed by the official infoseek_eval.py for these predictions: references without a prediction "
    "are left out (the harness numbers in 'metrics' count them as wrong)"
)


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------
def _coverage(ref_ids: list[str], preds: Predictions, metric_coverage: Mapping[str, Any]) -> dict[str, Any]:
    known = set(ref_ids)
    unknown = [p for p in preds.by_id if p not in known]
    out = dict(metric_coverage)
    out["unknown_id_examples"] = unknown[:10]
    out["missing_id_examples"] = [r for r in ref_ids if r not in preds.by_id][:10]
    out["fraction_predicted"] = (out["n_predicted"] / out["n_references"]) if out["n_references"] else 0.0
    out["duplicates"] = "refused (an error)"
    return out


def _score_infoseek(preds: Predictions, refs: list[InfoSeekReference]
                    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    from reag_harness.tasks.infoseek.metric import aggregate_infoseek, infoseek_correct, split_of

    rows, samples = [], []
    for ref in refs:
        pred = preds.by_id.get(ref.data_id)
        correct = pred is not None and infoseek_correct(pred, ref.answer_eval, ref.question_type)
        rows.append({"data_id": ref.data_id, "split": ref.data_split, "question_type": ref.question_type,
                     "correct": correct, "missing": pred is None})
        samples.append({"id": ref.data_id, "prediction": pred, "correct": int(correct), "missing": pred is None,
                        "question_type": ref.question_type, "split": split_of(ref.data_split),
                        "answer": pred, "score": {"correct": int(correct)},
                        "meta": {"question_type": ref.question_type, "split": split_of(ref.data_split)}})
    ids = [r.data_id for r in refs]
    known = set(ids)
    n_unknown = sum(1 for p in preds.by_id if p not in known)
    agg = aggregate_infoseek(rows, n_unknown_ids=n_unknown, n_null_predictions=preds.n_null)
    return agg, samples, ids


def _score_evqa(preds: Predictions, refs: list[EvqaReference], bem: Any, candidate_max_chars: int | None
                ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    from reag_harness.tasks.evqa.metric import EvqaScorer, aggregate_evqa

    predictions = [preds.by_id.get(r.data_id) for r in refs]
    scored = EvqaScorer(bem=bem, candidate_max_chars=candidate_max_chars).score(
        [r.question for r in refs], [r.answer for r in refs], [r.question_type for r in refs], predictions)
    rows, samples = [], []
    for ref, pred, s in zip(refs, predictions, scored):
        rows.append({"question_type": ref.question_type, **s})
        samples.append({"id": ref.data_id, "prediction": pred, "correct": s["correct"],
                        "decided_by": s["decided_by"], "bem_prob": s["bem_prob"], "missing": s["missing"],
                        "question_type": ref.question_type, "empty_reference": s["empty_reference"],
                        "bem_truncated": s["bem_truncated"], "answer": pred,
                        "score": {"correct": s["correct"], "decided_by": s["decided_by"], "bem_prob": s["bem_prob"]},
                        "meta": {"question_type": ref.question_type}})
    ids = [r.data_id for r in refs]
    known = set(ids)
    n_unknown = sum(1 for p in preds.by_id if p not in known)
    agg = aggregate_evqa(rows, bem_used=bem is not None, n_unknown_ids=n_unknown, n_null_predictions=preds.n_null)
    return agg, samples, ids


def score_predictions(
    task: str,
    predictions_path: str | Path,
    references_path: str | Path,
    qtypes_path: str | Path | None = None,
    bem_model: str | None = None,
    bem_vocab: str | None = None,
    no_bem: bool = False,
    output_dir: str | Path = "score-output",
    candidate_max_chars: int | None = None,
    bem_batch_size: int = 64,
    bem_download: bool = False,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """Score a predictions file against references; write ``results.json`` + ``samples.jsonl``; return the results.

    ``task`` is "infoseek" or "evqa". For EVQA, BEM defaults to the official TF Hub handle and vocab;
    ``no_bem`` gives the exact-match lower bound (labelled as such). Malformed input raises InputError.
    Ids are matched by :func:`id_aliases`; an unknown prediction id or a reference without a
    prediction raises :class:`CoverageError` unless ``allow_partial``.
    """
    from reag_harness.core.versions import harness_version

    task = task.lower()
    if task in ("encyclopedic-vqa", "encyclopedic_vqa"):
        task = "evqa"
    if task not in ("infoseek", "evqa"):
        raise HarnessError(f"unknown task {task!r} for scoring: infoseek or evqa")
    if task == "infoseek" and (bem_model or bem_vocab or no_bem or candidate_max_chars is not None):
        raise HarnessError("--bem-model, --bem-vocab, --no-bem and --candidate-max-chars are EVQA options")
    if task == "evqa" and qtypes_path is not None:
        raise HarnessError("--qtypes is an InfoSeek option (EVQA references carry question_type)")
    if no_bem and (bem_model or bem_vocab):
        raise HarnessError("--no-bem cannot be combined with --bem-model / --bem-vocab")
    if task == "evqa":
        from reag_harness.core.preflight import PreflightError
        from reag_harness.tasks.evqa.bem import bem_preflight

        problems = bem_preflight(bem_model, bem_vocab, allow_download=bem_download, no_bem=no_bem)
        if problems:
            lines = "\n".join(f"  - {p}" for p in problems)
            raise PreflightError(f"pre-flight found {len(problems)} problem(s) before scoring:\n{lines}")

    preds = read_predictions(predictions_path)
    config: dict[str, Any] = {
        "task": task,
        "predictions": [str(Path(p).resolve()) for p in preds.sources],
        "references": str(Path(references_path).resolve()),
        "policies": {"missing_prediction": "counted as wrong in metrics; left out of the official block",
                     "null_prediction": "scored as the empty string", "duplicate_prediction": "error"},
    }
    refs: list[Any] = (read_infoseek_references(references_path, qtypes_path) if task == "infoseek"
                       else read_evqa_references(references_path))
    preds = align_predictions(preds, [r.data_id for r in refs], Path(references_path).stem)
    check_coverage([r.data_id for r in refs], preds, allow_partial)
    config["allow_partial"] = allow_partial
    if task == "infoseek":
        config["qtypes"] = str(Path(qtypes_path).resolve()) if qtypes_path is not None else None
        agg, samples, ids = _score_infoseek(preds, refs)
        official = agg.pop("official")
        coverage = agg.pop("coverage")
        official_label = INFOSEEK_OFFICIAL_LABEL
    else:
        bem = None
        if not no_bem:
            from reag_harness.tasks.evqa.bem import BemScorer, resolve_bem

            bem = BemScorer(*resolve_bem(bem_model, bem_vocab), batch_size=bem_batch_size,
                            allow_download=bem_download)
        agg, samples, ids = _score_evqa(preds, refs, bem, candidate_max_chars)
        official = agg.pop("official")
        coverage = agg.pop("coverage")
        config.update(
            no_bem=no_bem, bem=bem.identity() if bem is not None else None, bem_batch_size=bem_batch_size,
            candidate_max_chars=candidate_max_chars,
        )
        config["policies"].update(
            empty_reference="EM not decided for an alternative empty after preprocessing; BEM judges the raw text",
            bem_over_512_tokens="candidate word pieces cut from the end (then question, then reference)",
        )
        official_label = (
            "official EVQA metric (EM then BEM, evaluation_utils.py), mean over predicted samples, percent"
            if bem is not None else
            "exact-match lower bound (--no-bem): NOT the official EVQA score, which also applies BEM"
        )
    results = {
        "run_id": score_run_id(task, output_dir),
        "task": task,
        "split": Path(references_path).stem,
        "headline_metric": "final_score" if task == "infoseek" else "single_hop",
        "components": scored_components(preds.sources),
        "n": len(ids),
        "metrics": agg,
        "official": official,
        "official_label": official_label,
        "coverage": _coverage(ids, preds, coverage),
        "config": config,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "harness_version": harness_version(),
    }
    out = prepare_run_folder(Path(output_dir))  # a file in the way is one line; files replaced only at the end
    with replace_at_end(out / "samples.jsonl") as fh:
        for s in samples:
            fh.write(json.dumps(s, ensure_ascii=False) + "\n")
    write_results(new_results_path(out), results)  # results_<time>.json, and results.json the latest
    return results


def score_run_id(task: str, output_dir: str | Path) -> str:
    """``score__<task>__<folder>__<UTC time>``: a score output is a run folder that compare and view accept."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    return f"score__{task}__{Path(output_dir).resolve().name}__{stamp}"


def scored_components(sources: Sequence[Any]) -> dict[str, Any]:
    """The components of the run whose ``samples.jsonl`` was scored (from its results.json), else ``{}``."""
    for source in sources:
        path = Path(source)
        if path.name == "samples.jsonl" and (path.parent / "results.json").is_file():
            try:
                data = json.loads((path.parent / "results.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
            comps = data.get("components") if isinstance(data, dict) else None
            return {k: v for k, v in comps.items() if k != "task"} if isinstance(comps, dict) else {}
    return {}


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``score`` subcommand's arguments to ``parser``."""
    parser.add_argument("--task", required=True, choices=("infoseek", "evqa"), help="benchmark of the predictions")
    parser.add_argument("--predictions", required=True, metavar="FILE",
                        help="{data_id, prediction} JSONL, a harness samples.jsonl, a JSON list, or a ReAG run "
                             "folder / split_N.json")
    parser.add_argument("--references", required=True, metavar="FILE",
                        help="InfoSeek: infoseek_val.jsonl; EVQA: the official CSV or JSON/JSONL with data_id")
    parser.add_argument("--qtypes", metavar="FILE", help="InfoSeek question types (infoseek_val_qtype.jsonl)")
    bem = parser.add_argument_group("EVQA / BEM")
    bem.add_argument("--bem-model", metavar="DIR", help="BEM SavedModel directory or TF Hub handle "
                     "(default: the official https://tfhub.dev/google/answer_equivalence/bem/1); 'tiny': a tiny "
                     "offline BEM with random weights (smoke test of the BEM path, meaningless scores)")
    bem.add_argument("--bem-vocab", metavar="FILE", help="BERT vocab file or URL (default: the official "
                     "BERT-base uncased vocab)")
    bem.add_argument("--no-bem", action="store_true", help="exact match only: a lower bound, not the official score")
    bem.add_argument("--bem-download", action="store_true", help="allow downloading the official BEM model and "
                     "vocab when they are not cached (nothing is downloaded without this)")
    bem.add_argument("--bem-batch-size", type=int, default=64, metavar="N", help="BEM batch size (default 64)")
    bem.add_argument("--candidate-max-chars", type=int, default=None, metavar="N",
                     help="cut predictions to N characters before EM and BEM (ReAG's evaluation uses 128; "
                          "default: no cut, as the official scorer)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="score even when some prediction ids match no reference or some references have no "
                             "prediction (missing ones count as wrong; coverage is printed). Default: exit 1")
    parser.add_argument("--output-dir", required=True, metavar="DIR",
                        help="the run folder written: results.json (the latest), results_<time>.json and samples.jsonl "
                             "(compare, view and leaderboard take it like a run folder)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show other libraries' logging (TensorFlow, transformers); silenced by default")


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)


def run(args: argparse.Namespace) -> int:
    """Run ``reag-eval score``; print a short summary. Harness errors propagate to the CLI."""
    if not getattr(args, "verbose", False):
        from reag_harness.core.quiet import quiet_third_party

        quiet_third_party()
    results = score_predictions(
        args.task, args.predictions, args.references, qtypes_path=args.qtypes, bem_model=args.bem_model,
        bem_vocab=args.bem_vocab, no_bem=args.no_bem, output_dir=args.output_dir,
        candidate_max_chars=args.candidate_max_chars, bem_batch_size=args.bem_batch_size,
        bem_download=args.bem_download,
        allow_partial=args.allow_partial,
    )
    m, cov, off = results["metrics"], results["coverage"], results["official"]
    print(f"{results['task']}: {cov['n_predicted']}/{cov['n_references']} references predicted "
          f"(coverage {100 * cov['fraction_predicted']:.1f}%), {cov['n_unknown_ids']} unknown ids")
    if results["task"] == "infoseek":
        ours = (m["final_score"], m["unseen_question"]["score"], m["unseen_entity"]["score"])
        theirs = (off["final_score"], off["unseen_question_score"]["score"], off["unseen_entity_score"]["score"])
        same = "; = the official infoseek_eval.py printout" if ours == theirs else ""
        print(f"  final {_fmt(ours[0])}  unseen_question {_fmt(ours[1])}  unseen_entity {_fmt(ours[2])}  "
              f"(missing counted as wrong{same})")
        if not same:
            print(f"  official printout: final {_fmt(theirs[0])}  unseen_question {_fmt(theirs[1])}  "
                  f"unseen_entity {_fmt(theirs[2])}")
    else:
        print(f"  {m['metric']}: all {_fmt(m['all'])}  single_hop {_fmt(m['single_hop'])}  "
              f"two_hop {_fmt(m['two_hop'])}  (missing counted as wrong)")
    print(f"  wrote {Path(args.output_dir) / 'results.json'} (the latest; each run also keeps its "
          "results_<time>.json) and samples.jsonl")
    return 0


def evaluate_module_path(task: str) -> str:
    """Path of the local ``evaluate`` metric script for ``task`` (load it with ``evaluate.load(path)``)."""
    names = {"infoseek": ("infoseek", "infoseek_accuracy.py"), "evqa": ("evqa", "evqa_accuracy.py")}
    if task not in names:
        raise HarnessError(f"no evaluate module for task {task!r}: infoseek or evqa")
    folder, script = names[task]
    spec = importlib.util.find_spec("reag_harness.tasks")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessError("reag_harness.tasks is not installed")
    base = Path(next(iter(spec.submodule_search_locations)))
    return str(base / folder / "evaluate_metric" / script)
