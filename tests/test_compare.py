"""``reag-eval compare``: paired differences, bootstrap intervals, McNemar, warnings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from reag_harness.cli.app import main
from reag_harness.core.errors import HarnessError
from reag_harness.results.compare import compare_runs, mcnemar, paired_bootstrap_ci

# 20 shared samples; split x = the first 10, split y = the last 10.
# A right: 0-9.  B right: 0-7 and 10-15.  Discordant: b = 2 (8, 9: A right, B wrong), c = 6 (10-15).
A_RIGHT = set(range(10))
B_RIGHT = set(range(8)) | set(range(10, 16))


def write_run(folder: Path, right: set[int], ids: range = range(20), *, task: str = "demo", extra: dict | None = None,
              question: str = "q{}") -> Path:
    folder.mkdir(parents=True)
    with (folder / "samples.jsonl").open("w") as fh:
        for i in ids:
            score = {"correct": int(i in right), "missing": False, **({k: v(i) for k, v in (extra or {}).items()})}
            fh.write(json.dumps({
                "id": f"s{i}", "question": question.format(i), "image": None, "references": [f"r{i}"],
                "meta": {"split": "x" if i < 10 else "y"}, "retrieved_pages": [], "passages": [],
                "raw_output": None, "reasoning": None, "answer": "a", "score": score, "error": None,
            }) + "\n")
    (folder / "results.json").write_text(json.dumps({
        "run_id": folder.name, "task": task, "split": "val", "n": len(ids), "headline_metric": "accuracy",
        "metrics": {"accuracy": 100 * len(right & set(ids)) / len(ids), "n": len(ids)},
    }))
    return folder


def pick(report: dict, group: str, metric: str = "correct") -> dict:
    return next(c for c in report["comparisons"] if c["group"] == group and c["metric"] == metric)


def test_difference_interval_and_exact_mcnemar(tmp_path: Path) -> None:
    report = compare_runs(write_run(tmp_path / "a", A_RIGHT), write_run(tmp_path / "b", B_RIGHT), n_boot=4000)
    assert report["n_shared"] == 20 and report["warnings"] == []
    overall = pick(report, "all")
    assert overall["a"] == pytest.approx(10 / 20) and overall["b"] == pytest.approx(14 / 20)
    assert overall["diff"] == pytest.approx(0.2)  # (14 - 10) / 20
    lo, hi = overall["ci"]
    assert lo <= 0.2 <= hi and lo < hi
    # b + c = 8 < 25: exact two-sided binomial, 2 * P(X <= 2), X ~ Bin(8, 1/2) = 2 * (1 + 8 + 28) / 256
    assert (overall["n_a_only"], overall["n_b_only"], overall["test"]) == (2, 6, "mcnemar-exact")
    assert overall["p_value"] == pytest.approx(74 / 256)
    # per split: x loses 2 (A 10/10, B 8/10), y gains 6 (A 0/10, B 6/10)
    x, y = pick(report, "split=x"), pick(report, "split=y")
    assert (x["n"], x["diff"], x["n_a_only"], x["n_b_only"]) == (10, pytest.approx(-0.2), 2, 0)
    assert x["p_value"] == pytest.approx(2 * 1 / 4)  # 2 * P(X <= 0), X ~ Bin(2, 1/2)
    assert (y["diff"], y["p_value"]) == (pytest.approx(0.6), pytest.approx(2 / 64))  # 2 * P(X <= 0), Bin(6, 1/2)
    assert {c["metric"] for c in report["comparisons"]} == {"correct"}  # 'missing' is a flag, not a metric


def test_mcnemar_chi_square_branch_and_edge_cases() -> None:
    # b + c = 40 >= 25: chi2 = (|30 - 10| - 1)^2 / 40 = 9.025, p = P(chi2_1 > 9.025) = 0.0026628...
    result = mcnemar(30, 10)
    assert result["test"] == "mcnemar-chi2-cc" and result["statistic"] == pytest.approx(9.025)
    assert result["p_value"] == pytest.approx(0.0026628, abs=2e-6)
    assert mcnemar(0, 0)["p_value"] == 1.0
    assert mcnemar(12, 12)["p_value"] == 1.0  # capped at 1
    assert mcnemar(0, 24)["p_value"] == pytest.approx(2 * 0.5**24)


def test_bootstrap_interval_width_matches_the_normal_approximation() -> None:
    a = [1, 0] * 500
    b = [1, 1, 0, 0] * 250  # d = b - a: +1 on a quarter, -1 on a quarter, 0 on half; mean 0, sd sqrt(0.5)
    lo, hi = paired_bootstrap_ci(a, b, n_boot=4000, seed=1)
    half = 1.96 * math.sqrt(0.5 / 1000)
    assert lo == pytest.approx(-half, rel=0.1) and hi == pytest.approx(half, rel=0.1)
    assert paired_bootstrap_ci(a, b, n_boot=4000, seed=1) == (lo, hi)  # seeded


def test_non_binary_scores_use_a_permutation_test(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", A_RIGHT, extra={"bem": lambda i: 0.5})
    b = write_run(tmp_path / "b", B_RIGHT, extra={"bem": lambda i: 0.5 + (0.1 if i % 2 else 0.0)})
    bem = pick(compare_runs(a, b, n_boot=2000), "all", "bem")
    assert bem["binary"] is False and bem["test"] == "sign-flip-permutation"
    assert bem["diff"] == pytest.approx(0.05) and bem["ci"][0] <= 0.05 <= bem["ci"][1]
    assert 0 < bem["p_value"] < 0.01  # 10 samples all +0.1: only the all-same-sign flips match it


def test_warns_on_coverage_and_task_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_run(tmp_path / "a", A_RIGHT)
    b = write_run(tmp_path / "b", B_RIGHT, ids=range(3, 20), question="Q{}", task="demo2")
    report = compare_runs(a, b, n_boot=1000)
    assert report["n_shared"] == 17 and (report["only_a"], report["only_b"]) == (3, 0)
    text = " | ".join(report["warnings"])
    assert "coverage" in text and "3 samples only in A" in text
    assert "differ in task:" in text and "task data: 17 shared samples" in text
    assert pick(report, "all")["diff"] == pytest.approx((11 - 7) / 17)  # A right 3-9, B right 3-7 and 10-15

    assert main(["compare", str(a), str(b), "--n-boot", "500"]) == 0
    out = capsys.readouterr().out
    assert "warning: the runs differ in coverage" in out and "95% CI" in out
    line = next(row for row in out.splitlines() if row.startswith("correct") and " all " in row)
    assert "+23.53" in line and "[" in line and "mcnemar" in line  # 4/17 in percentage points


def test_cli_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_run(tmp_path / "a", A_RIGHT)
    b = write_run(tmp_path / "b", B_RIGHT)
    assert main(["compare", str(a), str(b), "--json", "--n-boot", "200"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["run_metrics"]["accuracy"] == {"a": 50.0, "b": 70.0}
    c = write_run(tmp_path / "c", A_RIGHT, ids=range(100, 110))
    with pytest.raises(HarnessError, match="share no sample"):
        compare_runs(a, c)
    assert main(["compare", str(a), str(tmp_path / "nope")]) == 2
    assert "not a run folder" in capsys.readouterr().err
