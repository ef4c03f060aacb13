"""``reag-eval compare RUN_A RUN_B``: paired comparison of two runs on the samples both scored.

For every numeric per-sample score (``samples.jsonl`` -> ``score``, e.g. ``correct``), overall and per
group (``meta.split``, ``meta.data_split``, ``meta.question_type`` where samples carry them):

* the difference of means B - A on the shared samples;
* a paired bootstrap confidence interval of that difference (percentile method; samples are
  resampled as pairs, ``n_boot`` resamples, a fixed ``seed``);
* a paired significance test. For 0/1 scores: McNemar's test on the discordant pairs
  ``b`` (A right, B wrong) and ``c`` (A wrong, B right): the exact two-sided binomial test
  ``p = min(1, 2 * P(X <= min(b, c)))``, ``X ~ Binomial(b + c, 1/2)`` when ``b + c < 25``, otherwise
  the chi-square statistic with continuity correction ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of
  freedom. For other scores: a paired sign-flip permutation test with ``n_boot`` permutations.

It warns when the runs differ in task, split, task data (question or references of a shared
sample) or coverage (samples only one run has), since the comparison then covers only the overlap.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..core.errors import HarnessError, InputError
from .run_files import iter_sample_logs

GROUP_KEYS = ("split", "data_split", "question_type")
#: Per-sample score fields that are flags, not metrics.
NOT_METRICS = frozenset({"missing", "empty_reference", "bem_truncated", "official"})
EXACT_BELOW = 25  # McNemar: exact binomial test when b + c < 25, chi-square with continuity correction otherwise


# --------------------------------------------------------------------------- statistics


def mcnemar(b: int, c: int) -> dict[str, Any]:
    """McNemar's test on the discordant counts (two-sided): ``b`` only A right, ``c`` only B right.

    Returns ``test``, ``n_a_only`` (= b), ``n_b_only`` (= c), ``statistic`` (chi-square, or None) and ``p_value``.
    """
    n = b + c
    counts = {"n_a_only": b, "n_b_only": c}
    if n == 0:
        return {"test": "mcnemar-exact", **counts, "statistic": None, "p_value": 1.0}
    if n < EXACT_BELOW:
        tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
        return {"test": "mcnemar-exact", **counts, "statistic": None, "p_value": min(1.0, 2 * tail / 2**n)}
    stat = (abs(b - c) - 1) ** 2 / n
    return {"test": "mcnemar-chi2-cc", **counts, "statistic": stat, "p_value": math.erfc(math.sqrt(stat / 2))}


def _resampled_means(d: Any, n_boot: int, rng: Any) -> Any:
    """Means of ``n_boot`` resamples (with replacement) of ``d``; multinomial counts when ``d`` has few values."""
    import numpy as np

    n = len(d)
    values, counts = np.unique(d, return_counts=True)
    if len(values) <= 64:  # same distribution as resampling indices, far cheaper (0/1 scores: 3 values)
        draws = rng.multinomial(n, counts / n, size=n_boot)
        return draws @ values / n
    out = np.empty(n_boot)
    step = max(1, 4_000_000 // n)
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = d[idx].mean(axis=1)
    return out


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], *, n_boot: int = 10000, seed: int = 0,
                        alpha: float = 0.05) -> tuple[float, float]:
    """Percentile CI of ``mean(b) - mean(a)``, resampling the pairs."""
    import numpy as np

    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    means = _resampled_means(d, n_boot, np.random.default_rng(seed))
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def sign_flip_test(a: Sequence[float], b: Sequence[float], *, n_perm: int = 10000, seed: int = 0) -> dict[str, Any]:
    """Two-sided paired permutation test of ``mean(b - a) == 0`` by random sign flips."""
    import numpy as np

    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    hits = 0
    step = max(1, 4_000_000 // max(1, len(d)))
    for start in range(0, n_perm, step):
        signs = rng.choice((-1.0, 1.0), size=(min(step, n_perm - start), len(d)))
        hits += int((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).sum())
    return {"test": "sign-flip-permutation", "statistic": float(d.mean()), "p_value": (hits + 1) / (n_perm + 1)}


def discordant(a: Sequence[float], b: Sequence[float]) -> tuple[list[int], list[int]]:
    """Positions of the discordant pairs of 0/1 scores: only A right (``b`` of McNemar), only B right (``c``)."""
    only_a = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x == 1.0 and y == 0.0]
    only_b = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x == 0.0 and y == 1.0]
    return only_a, only_b


def paired_scores(samples_a: Mapping[str, Mapping], samples_b: Mapping[str, Mapping], ids: Sequence[str],
                  metric: str) -> tuple[list[float], list[float]]:
    """The per-sample ``metric`` of both runs on ``ids`` (a missing or non-numeric value counts 0)."""
    a = [_numeric(samples_a[i]["score"].get(metric)) or 0.0 for i in ids]
    b = [_numeric(samples_b[i]["score"].get(metric)) or 0.0 for i in ids]
    return a, b


# --------------------------------------------------------------------------- runs


def _load_run(run: str | Path) -> tuple[Path, dict[str, Any], dict[str, dict[str, Any]]]:
    path = Path(run)
    folder = path.parent if path.is_file() else path
    from .files import results_path as results_file

    results_path, samples_path = results_file(path), folder / "samples.jsonl"
    if not samples_path.is_file():
        raise HarnessError(f"{folder}: not a run folder (no samples.jsonl; run with sample logging)")
    results: dict[str, Any] = {}
    if results_path.is_file():
        try:
            results = json.loads(results_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(str(results_path), f"not valid JSON ({exc.msg})", line=exc.lineno) from exc
    samples: dict[str, dict[str, Any]] = {}
    for lineno, row in iter_sample_logs(folder):
        if not isinstance(row, dict) or "id" not in row or not isinstance(row.get("score"), dict):
            raise InputError(str(samples_path), "a sample log needs 'id' and a 'score' object", line=lineno)
        key = str(row["id"])
        if key in samples:
            raise InputError(str(samples_path), f"duplicate sample id {key!r}", line=lineno, field="id")
        samples[key] = row
    return folder, results, samples


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _score_keys(samples_a: Mapping[str, Mapping], samples_b: Mapping[str, Mapping], ids: Sequence[str]) -> list[str]:
    """Score keys numeric in every shared sample of both runs, ``correct`` first."""
    keys = [k for k in samples_a[ids[0]]["score"] if k in samples_b[ids[0]]["score"] and k not in NOT_METRICS]
    keys = [k for k in keys if all(_numeric(samples_a[i]["score"].get(k)) is not None
                                   and _numeric(samples_b[i]["score"].get(k)) is not None for i in ids)]
    return sorted(keys, key=lambda k: (k != "correct", k))


def _groups(samples_a: Mapping[str, Mapping], ids: Sequence[str]) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = [("all", list(ids))]
    for key in GROUP_KEYS:
        buckets: dict[str, list[str]] = {}
        for i in ids:
            meta = samples_a[i].get("meta") or {}
            if key in meta and meta[key] is not None:
                buckets.setdefault(str(meta[key]), []).append(i)
        if len(buckets) > 1 or (buckets and sum(map(len, buckets.values())) < len(ids)):
            out.extend((f"{key}={value}", members) for value, members in sorted(buckets.items()))
    return out


def _warnings(res_a: Mapping, res_b: Mapping, sa: Mapping, sb: Mapping, ids: Sequence[str]) -> list[str]:
    warns = []
    for field in ("task", "split"):
        if res_a.get(field) != res_b.get(field):
            warns.append(f"the runs differ in {field}: {res_a.get(field)!r} vs {res_b.get(field)!r}")
    from .run_identity import scoring_note

    if scoring_note(res_a) != scoring_note(res_b):
        warns.append(f"the runs are scored differently: A {scoring_note(res_a) or 'official metric'}, "
                     f"B {scoring_note(res_b) or 'official metric'}: their numbers are not comparable")
    only_a, only_b = len(sa) - len(ids), len(sb) - len(ids)
    if only_a or only_b:
        warns.append(f"the runs differ in coverage: {only_a} samples only in A, {only_b} only in B; "
                     f"compared on the {len(ids)} shared samples")
    for key in ("n",):
        if key in res_a and key in res_b and res_a[key] != res_b[key] and not (only_a or only_b):
            warns.append(f"results.json n differs: {res_a[key]} vs {res_b[key]}")
    cov_a, cov_b = (r.get("metrics", {}).get("coverage") for r in (res_a, res_b))
    if isinstance(cov_a, Mapping) and isinstance(cov_b, Mapping):
        miss_a, miss_b = cov_a.get("n_missing"), cov_b.get("n_missing")
        if miss_a != miss_b:
            warns.append(f"the runs differ in missing predictions: {miss_a} vs {miss_b}")
    fp_a, fp_b = ((r.get("config") or {}).get("task_fingerprint") for r in (res_a, res_b))
    if fp_a and fp_b and fp_a != fp_b:
        warns.append(f"the runs differ in task data fingerprint: {fp_a} vs {fp_b}")
    changed = [i for i in ids if sa[i].get("question") != sb[i].get("question")
               or list(sa[i].get("references") or []) != list(sb[i].get("references") or [])]
    if changed:
        warns.append(f"the runs differ in task data: {len(changed)} shared samples have a different question or "
                     f"references (e.g. {changed[0]!r})")
    err_a = sum(1 for i in ids if sa[i].get("error"))
    err_b = sum(1 for i in ids if sb[i].get("error"))
    if err_a or err_b:
        warns.append(f"samples with errors among the shared ones: {err_a} in A, {err_b} in B (scored as logged)")
    return warns


def compare_runs(dir_a: str | Path, dir_b: str | Path, n_boot: int = 10000, seed: int = 0,
                 alpha: float = 0.05) -> dict[str, Any]:
    """Compare two run folders on their shared samples (see the module docstring).

    Returns ``{"run_a", "run_b", "n_shared", "only_a", "only_b", "warnings", "comparisons", "run_metrics"}``;
    each comparison: ``metric``, ``group``, ``n``, ``a``, ``b`` (means), ``diff`` (b - a), ``ci`` ([lo, hi]),
    ``binary``, and the test (``test``, ``p_value``; for McNemar also ``n_a_only``/``n_b_only``, the discordant
    counts: samples only A / only B got right).
    """
    folder_a, res_a, sa = _load_run(dir_a)
    folder_b, res_b, sb = _load_run(dir_b)
    ids = sorted(set(sa) & set(sb))
    if not ids:
        raise HarnessError(f"{folder_a} and {folder_b} share no sample ids")
    keys = _score_keys(sa, sb, ids)
    if not keys:
        raise HarnessError("the runs share no numeric per-sample score (e.g. 'correct')")
    comparisons = []
    for metric in keys:
        for group, members in _groups(sa, ids):
            a, b = paired_scores(sa, sb, members, metric)
            binary = all(v in (0.0, 1.0) for v in a + b)
            mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
            lo, hi = paired_bootstrap_ci(a, b, n_boot=n_boot, seed=seed, alpha=alpha)
            if binary:
                only_a, only_b = discordant(a, b)
                test = mcnemar(len(only_a), len(only_b))
            else:
                test = sign_flip_test(a, b, n_perm=n_boot, seed=seed)
            comparisons.append({"metric": metric, "group": group, "n": len(members), "a": mean_a, "b": mean_b,
                                "diff": mean_b - mean_a, "ci": [lo, hi], "binary": binary, **test})

    def describe(folder: Path, res: Mapping[str, Any], samples: Mapping) -> dict[str, Any]:
        from .run_identity import generator_display, scoring_note

        return {"dir": str(folder), "run_id": res.get("run_id", folder.name), "task": res.get("task"),
                "split": res.get("split"), "n": len(samples), "headline_metric": res.get("headline_metric"),
                "generator": generator_display(res.get("components") or {}) or None,
                "scoring": scoring_note(res)}

    run_metrics = {}
    for res, side in ((res_a, "a"), (res_b, "b")):
        for key, value in (res.get("metrics") or {}).items():
            if _numeric(value) is not None and key != "n" and not key.startswith("n_"):
                run_metrics.setdefault(key, {"a": None, "b": None})[side] = _numeric(value)
    return {
        "run_a": describe(folder_a, res_a, sa), "run_b": describe(folder_b, res_b, sb),
        "n_shared": len(ids), "only_a": len(sa) - len(ids), "only_b": len(sb) - len(ids),
        "alpha": alpha, "n_boot": n_boot, "seed": seed,
        "warnings": _warnings(res_a, res_b, sa, sb, ids), "comparisons": comparisons, "run_metrics": run_metrics,
    }


# --------------------------------------------------------------------------- output


def _pct(value: float, binary: bool, signed: bool = False) -> str:
    scaled = 100 * value if binary else value
    return f"{scaled:+.2f}" if signed else f"{scaled:.2f}"


def format_comparison(report: Mapping[str, Any]) -> str:
    """The report as text: one line per metric and group (0/1 metrics in percentage points)."""
    a, b = report["run_a"], report["run_b"]
    level = round(100 * (1 - report["alpha"]))
    def head(side: str, r: Mapping[str, Any]) -> str:
        facts = [str(r["task"]), f"split {r['split'] or 'default'}", f"{r['n']} samples"]
        facts += [x for x in (r.get("generator"), r.get("scoring")) if x]
        return f"{side}: {r['run_id']}  ({', '.join(facts)})  {r['dir']}"

    lines = [
        head("A", a),
        head("B", b),
        f"shared samples: {report['n_shared']} (only in A: {report['only_a']}, only in B: {report['only_b']}); "
        f"paired bootstrap {report['n_boot']} resamples, seed {report['seed']}",
    ]
    lines += [f"warning: {w}" for w in report["warnings"]]
    header = ["metric", "group", "n", "A", "B", "B-A", f"{level}% CI", "p", "test"]
    rows = []
    for c in report["comparisons"]:
        test = c["test"] + (f" (only A right {c['n_a_only']}, only B right {c['n_b_only']})" if "n_a_only" in c else "")
        rows.append([c["metric"], c["group"], str(c["n"]), _pct(c["a"], c["binary"]), _pct(c["b"], c["binary"]),
                     _pct(c["diff"], c["binary"], signed=True),
                     f"[{_pct(c['ci'][0], c['binary'], True)}, {_pct(c['ci'][1], c['binary'], True)}]",
                     f"{c['p_value']:.3g}", test])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("(0/1 metrics in percent and percentage points)")
    if report["run_metrics"]:
        lines.append("run metrics from results.json (each on all of its run's samples, no interval):")
        for key, v in report["run_metrics"].items():
            diff = f"  B-A {v['b'] - v['a']:+.4g}" if v["a"] is not None and v["b"] is not None else ""
            shown = [f"{x:.4g}" if x is not None else "–" for x in (v["a"], v["b"])]
            lines.append(f"  {key}: A {shown[0]}  B {shown[1]}{diff}")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A",
                        help="run folder (results.json + samples.jsonl; a score output too), or one of its "
                             "results_<time>.json: the baseline")
    parser.add_argument("run_b", metavar="RUN_B", help="run folder or results file to compare with the baseline")
    parser.add_argument("--n-boot", type=int, default=10000, help="bootstrap resamples (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level (default 0.05)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    if args.n_boot < 1 or not 0 < args.alpha < 1:
        raise HarnessError("--n-boot must be positive and --alpha in (0, 1)")
    report = compare_runs(args.run_a, args.run_b, n_boot=args.n_boot, seed=args.seed, alpha=args.alpha)
    print(json.dumps(report, indent=2) if args.json else format_comparison(report))
    return 0
