"""Leaderboard appends and views: one row per run fingerprint, mode kept, no lock left, loud lock
timeouts, smoke runs only on request, escaped output, and the published rows always present."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reag_harness.cli.app import main
from reag_harness.core.atomic import exclusive_lock
from reag_harness.core.errors import HarnessError
from reag_harness.leaderboard import board as lb
from reag_harness.results.files import unique_run_id
from reag_harness.results.run_results import ComponentInfo

from .test_leaderboard import make_results


def test_a_rerun_of_the_same_configuration_replaces_its_row(tmp_path: Path) -> None:
    path = tmp_path / "lb.json"
    lb.append_run(make_results("first", fingerprint="same"), path)
    lb.append_run(make_results("other", fingerprint="different"), path)
    lb.append_run(make_results("again", fingerprint="same"), path)
    assert [e["run_id"] for e in lb.load_leaderboard(path)] == ["other", "again"]


def test_views_show_one_row_per_fingerprint_of_an_older_file(tmp_path: Path) -> None:
    old = [lb.entry_from_results(make_results(r, fingerprint="same")) for r in ("first", "second")]
    rows = lb.view_rows(old, [], source="measured")
    assert [r["id"] for r in rows] == ["second"]


def test_run_ids_are_unique_within_one_second() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    ids = {unique_run_id("demo__x__abc", now) for _ in range(50)}
    assert len(ids) == 50 and all(i.startswith("demo__x__abc__20260101T120000123456-") for i in ids)


def test_append_keeps_the_file_mode_and_leaves_no_lock_or_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "lb.json"
    lb.append_run(make_results("a"), path)
    os.chmod(path, 0o644)
    (tmp_path / ".lb.json.k1lled.tmp").write_bytes(b"x" * 1000)  # left by an append killed mid-write
    lb.append_run(make_results("b"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lb.json"]


def test_an_append_that_cannot_lock_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lb.json"
    lb.append_run(make_results("a"), path)
    monkeypatch.setattr(lb, "LOCK_TIMEOUT_S", 0.3)
    with exclusive_lock(tmp_path / "lb.json.lock", 5):
        with pytest.raises(HarnessError, match=r"NOT added.*reag-eval leaderboard append runs/r1 --file"):
            lb.append_run(make_results("b"), path, run_dir="runs/r1")
    assert [e["run_id"] for e in lb.load_leaderboard(path)] == ["a"]


def test_smoke_runs_are_appended_only_when_a_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine.json"
    monkeypatch.setenv("REAG_LEADERBOARD", str(mine))
    assert lb.record_run(make_results("smoke", smoke=True)) is None
    assert not mine.exists() and "not added to the leaderboard" in capsys.readouterr().err
    named = tmp_path / "named.json"
    assert lb.record_run(make_results("smoke", smoke=True), named) is not None
    assert [e["run_id"] for e in lb.load_leaderboard(named)] == ["smoke"]
    lb.record_run(make_results("real"))
    assert [e["run_id"] for e in lb.load_leaderboard(mine)] == ["real"]


def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "lb.json"
    res = make_results("evil", config={"system": "<script>alert(1)</script> [x](javascript:alert(2)) | cell"})
    res.components["generator"] = ComponentInfo("generator", "g", {}, {}, checkpoint="\x1b[2J\x1b[31mred\u202egnp")
    lb.append_run(res, path)
    return path


def test_markdown_escapes_run_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", "--format", "markdown", "--file", str(hostile(tmp_path)), "--source", "measured"]) == 0
    out = capsys.readouterr().out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "[x](javascript:" not in out and "\\[x\\]" in out
    assert "\\| cell" in out and "\x1b" not in out and "\u202e" not in out


def test_terminal_table_escapes_control_sequences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", "--file", str(hostile(tmp_path)), "--source", "measured"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b[2J" in out


@pytest.mark.parametrize("fmt", ["table", "markdown", "json", "html"])
def test_a_missing_published_file_is_an_error_in_every_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    monkeypatch.setattr(lb, "PUBLISHED_PATH", tmp_path / "gone.json")
    assert main(["leaderboard", "--format", fmt, "--file", str(tmp_path / "lb.json")]) == 2
    assert "published leaderboard rows are missing" in capsys.readouterr().err


def test_published_rows_are_package_data() -> None:
    root = Path(__file__).resolve().parent.parent
    assert '"reag_harness.leaderboard_data"' in (root / "setup.py").read_text()
    assert '"reag_harness.leaderboard_data" = "leaderboard"' in (root / "pyproject.toml").read_text()
    assert lb.published_file().name == "published.json" and lb.published_file().is_file()
