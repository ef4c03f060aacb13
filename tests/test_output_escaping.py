"""Terminal output and page links are inert: control characters escaped, links only http(s) or relative."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from reag_harness.cli.app import main
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.hookspecs import hookimpl
from reag_harness.results.links import relative_href, safe_url

from . import pipeline_plugin
from .test_leaderboard_html import CHROMIUM, render, write_measured_run

EVIL = "\x1b]0;pwned\x07\x1b[2J\rgone\u202e"
ROOT = Path(__file__).resolve().parents[1]


def assert_inert(text: str) -> None:
    for c in ("\x1b", "\x07", "\r", "\u202e"):
        assert c not in text, repr(text)


@pytest.fixture
def lexical(tmp_path: Path):
    register_plugin(pipeline_plugin, "test-pipeline")
    yield ["--task", "demo", "--retriever", "test-title", "--critic", "test-overlap", "--generator",
           "test-first-number", "--prompt-style", "test-context", "--limit", "3", "--no-leaderboard",
           "--cache-dir", str(tmp_path / "stages")]
    unregister_plugin("test-pipeline")


def test_end_of_run_summary_and_compare_escape_control_characters(lexical, tmp_path, capsys) -> None:
    out_dir = tmp_path / f"runs{EVIL}"
    assert main(["run", *lexical, "--output-dir", str(out_dir), "--generator-args", f"label={EVIL}"]) == 0
    printed = capsys.readouterr().out
    assert_inert(printed)
    assert "label=\\x1b]0;pwned\\x07\\x1b[2J\\rgone\\u202e" in printed and "run folder" in printed
    (run,) = out_dir.iterdir()
    assert main(["compare", str(run), str(run), "--n-boot", "50"]) == 0
    assert_inert(capsys.readouterr().out)


def test_ls_and_errors_escape_control_characters(lexical, capsys) -> None:
    class Evil:
        @hookimpl
        def register_generators(self, register):
            register("evil-gen", pipeline_plugin.FirstNumberGenerator, description=f"desc {EVIL}")

    register_plugin(Evil(), "evil-plugin")
    try:
        assert main(["ls", "generators"]) == 0
    finally:
        unregister_plugin("evil-plugin")
    out = capsys.readouterr().out
    assert "evil-gen" in out and "desc \\x1b]0;pwned" in out
    assert_inert(out)
    assert main(["run", *lexical, "--generator", f"nope{EVIL}"]) != 0
    err = capsys.readouterr().err
    assert "nope\\x1b" in err
    assert_inert(err)


def test_links_are_http_or_relative_paths(tmp_path) -> None:
    page_dir = tmp_path / "lb"
    target = page_dir / "javascript:alert(1)" / "results.json"
    href = relative_href(target, page_dir)
    assert href is not None and not href.lower().startswith("javascript:") and ":" not in href
    assert (page_dir / unquote(href)) == target
    for bad in ("javascript:alert(1)", "JAVASCRIPT:x", "data:text/html,x", "file:///etc/passwd", "//evil.org/x",
                "vbscript:x", "java\nscript:x", " javascript:x"):
        assert safe_url(bad) is None, bad
    for good in ("https://arxiv.org/abs/1", "http://x.org", "runs/a/results.json", "../a%3Ab/results.json"):
        assert safe_url(good) == good


def test_viewer_image_links_are_relative_paths(tmp_path) -> None:
    from reag_harness.results.viewer import image_sources

    image = tmp_path / "out" / "javascript:alert(1)" / "q.jpg"
    (src,) = image_sources([str(image)], "link", tmp_path / "out" / "viewer.html")
    assert not src.lower().startswith("javascript:") and (tmp_path / "out" / unquote(src)).resolve() == image


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the pages' shared script")
def test_page_script_refuses_other_schemes() -> None:
    script = (ROOT / "reag_harness" / "web" / "common.js").read_text() + """
var cases = ["javascript:alert(1)", " javascript:x", "data:text/html,x", "//evil.org", "file:///x",
             "https://ok.org/a", "runs/a%3Ab/results.json", "q.jpg"];
console.log(JSON.stringify(cases.map(RH.safeHref)));"""
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [None, None, None, None, None, "https://ok.org/a",
                                      "runs/a%3Ab/results.json", "q.jpg"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)")
def test_leaderboard_page_links_a_javascript_named_run_folder_as_a_path(tmp_path: Path) -> None:
    board = tmp_path / "lb" / "leaderboard.json"
    run = write_measured_run(board.parent / "javascript:alert(1)")
    page = board.parent / "index.html"
    assert main(["leaderboard", "append", str(run), "--file", str(board)]) == 0
    assert main(["leaderboard", "--format", "html", "--file", str(board), "--output", str(page)]) == 0
    (row,) = render(page, "#task=infoseek&source=measured", tmp_path / "profile").rows
    href = row["link:results"]
    assert not href.lower().startswith("javascript:") and (page.parent / unquote(href)) == run / "results.json"
