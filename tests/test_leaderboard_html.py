"""The static leaderboard page, loaded in a real headless browser (Debian's chromium).

Skipped only when /usr/bin/chromium is absent (CI installs it: ``apt-get install -y chromium``).
The rows are rendered by the page's JS from embedded JSON, so reading them from ``--dump-dom``
proves the script ran; filters and sorting are driven through the URL hash.
"""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reag_harness import leaderboard as lb
from reag_harness.cli import main
from reag_harness.results import ComponentInfo, RunResults

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)")


class RowReader(HTMLParser):
    """Collects the attributes of every ``tr.lb-row`` and the text of its ``data-col`` cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.bars: list[str] = []
        self._col: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and "lb-row" in a.get("class", "").split():
            self.rows.append(dict(a))
        elif tag == "td" and self.rows and "data-col" in a:
            self._col = a["data-col"]
            self.rows[-1]["col:" + self._col] = ""
        elif tag == "div" and a.get("class") == "bar-row":
            self.bars.append(a.get("data-id", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._col = None

    def handle_data(self, data: str) -> None:
        if self._col and self.rows:
            self.rows[-1]["col:" + self._col] += data


def render(page: Path, fragment: str, profile: Path) -> RowReader:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--dump-dom", page.resolve().as_uri() + fragment]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'data-rendered="1"' in out.stdout, "the page's script did not finish"
    reader = RowReader()
    reader.feed(out.stdout)
    return reader


def results(run_id: str, value: float, *, smoke: bool = False, system: str = "my run") -> RunResults:
    return RunResults(
        run_id=run_id, task="infoseek", split="val", n=73620,
        metrics={"final_score": value, "unseen_question": {"score": value}, "unseen_entity": {"score": value}},
        headline_metric="final_score",
        components={"generator": ComponentInfo("generator", "qwen_vl", {}, {}, checkpoint="Qwen/Qwen2.5-VL-7B")},
        retrieval_quality={}, errors={"count": 0}, timings=[], config={"system": system}, config_fingerprint="f",
        versions={"harness": "0.1.0"}, git_hash=None, seed=0, device="cuda", date="2025-01-01", smoke=smoke,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("page")
    board = folder / "leaderboard.json"
    lb.append_run(results("measured-1", 45.0, system="</script><b>x</b> & co"), board)
    lb.append_run(results("smoke-1", 99.0, smoke=True), board)
    out = folder / "index.html"
    assert main(["leaderboard", "--format", "html", "--file", str(board), "--output", str(out)]) == 0
    return out


def test_page_renders_sorted_rows_with_the_measured_run(page: Path, tmp_path: Path) -> None:
    html = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # self-contained: nothing fetched
    view = render(page, "", tmp_path / "profile")
    rows = view.rows
    assert {r["data-task"] for r in rows} == {"infoseek"}  # the first task by default
    reported = [r for r in rows if r["data-source"] == "reported"]
    assert len(reported) == 19 and "smoke-1" not in [r["data-id"] for r in rows]  # smoke hidden by default
    ids = [r["data-id"] for r in rows]
    mine = rows[ids.index("measured-1")]
    assert mine["data-system"] == "</script><b>x</b> & co" and mine["col:system"].startswith("</script>")
    assert ids.index("cc-vqa-training-free") < ids.index("measured-1") < ids.index("reflectiva-qwen2.5-vl-7b")
    values = [float(r["data-headline"]) for r in rows if r["data-id"] != "reag-7b-oracle-pages"]
    assert values == sorted(values, reverse=True) and ids[-1] == "reag-7b-oracle-pages"
    assert rows[0]["col:all"] == "47.2" and rows[0]["col:system"].startswith("ReAG-7B")
    assert view.bars[:2] == ["reag-7b", "core-mmrag-ft"]  # the bar chart, best first


def test_hash_filters_by_task_and_source_and_sorts(page: Path, tmp_path: Path) -> None:
    view = render(page, "#task=evqa&source=reported&sort=all&dir=asc", tmp_path / "profile")
    rows = view.rows
    assert {(r["data-task"], r["data-source"]) for r in rows} == {("evqa", "reported")} and len(rows) == 19
    alls = [r["col:all"] for r in rows]
    assert alls[0] == "12.4" and alls[1] == "16.9"  # BLIP-2, LLaVA-1.5: ascending by E-All
    values = [float(v) for v in alls if v != "–"]
    assert values == sorted(values) and alls[-1] == "–"  # values not reported come last
    assert {r["data-id"] for r in rows if r["col:all"] == "–"} == {"core-mmrag-ft", "reag-7b-oracle-pages"}


def test_hash_shows_smoke_and_measured_only(page: Path, tmp_path: Path) -> None:
    rows = render(page, "#task=infoseek&source=measured&smoke=1", tmp_path / "profile").rows
    assert [r["data-id"] for r in rows] == ["measured-1", "smoke-1"]  # the smoke run listed after real ones
    assert "smoke" in rows[1]["class"].split()


def test_checked_in_page_loads(tmp_path: Path) -> None:
    page = lb.REPO_LEADERBOARD_DIR / "index.html"
    rows = render(page, "#task=infoseek", tmp_path / "profile").rows
    assert sum(r["data-source"] == "reported" for r in rows) == 19
