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

from reag_harness.cli.app import main
from reag_harness.leaderboard import board as lb
from reag_harness.results.run_results import ComponentInfo, RunResults

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)")


class RowReader(HTMLParser):
    """Collects the attributes of every ``tr.lb-row`` and the text of its ``data-col`` cells."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.bars: list[str] = []
        self.ticks: list[str] = []
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
        elif tag == "a" and self.rows and "data-link" in a:
            self.rows[-1]["link:" + a["data-link"]] = a.get("href", "")
        elif tag == "span" and a.get("class") == "no-preset" and self.rows:
            self.rows[-1]["title:preset"] = a.get("title", "")
        elif tag == "span" and a.get("class") == "tick":
            self.ticks.append("")
            self._col = "tick"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "span") and self._col == "tick" or tag == "td":
            self._col = None

    def handle_data(self, data: str) -> None:
        if self._col == "tick":
            self.ticks[-1] += data
        elif self._col and self.rows:
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
    assert len(reported) == 20 and "smoke-1" not in [r["data-id"] for r in rows]  # smoke hidden by default
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
    assert {(r["data-task"], r["data-source"]) for r in rows} == {("evqa", "reported")} and len(rows) == 20
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
    assert sum(r["data-source"] == "reported" for r in rows) == 20


def write_measured_run(folder: Path) -> Path:
    """An InfoSeek-shaped run folder: 40 samples (UQ 12/20 right, UE 8/20), a ReAG-7B setting."""
    import json

    folder.mkdir(parents=True)
    rows = [{"id": f"q{i}", "question": "q", "image": None, "references": ["a"], "retrieved_pages": [],
             "meta": {"split": "val_unseen_question" if i < 20 else "val_unseen_entity", "question_type": "String"},
             "passages": [], "raw_output": None, "reasoning": None, "answer": "a",
             "score": {"correct": int(i < 12 or 20 <= i < 28), "missing": False}, "error": None} for i in range(40)]
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    comps = {
        "retriever": ComponentInfo("retriever", "eva-clip", {"top_k": 20, "crop": True}, {}),
        "critic": ComponentInfo("critic", "hf-vlm-critic", {"threshold": 0.1}, {}, checkpoint="aimagelab/ReAG-Critic"),
        "generator": ComponentInfo("generator", "hf-vlm", {}, {}, checkpoint="aimagelab/ReAG-7B",
                                   n_params=8_292_166_656),  # the size comes from the count, never the name
        "task": ComponentInfo("task", "infoseek", {"kb": "/data/infoseek_kb_100k"}, {}),
    }
    res = RunResults(
        run_id="reag7b-run", task="infoseek", split="val", n=40,
        metrics={"final_score": 48.0, "unseen_question": {"score": 60.0}, "unseen_entity": {"score": 40.0}},
        headline_metric="final_score", components=comps, retrieval_quality={"recall@1": 45.0, "recall@5": 67.5},
        errors={"count": 0}, timings=[], config={"system": "my ReAG-7B", "run_dir": str(folder)},
        config_fingerprint="f", versions={"harness": "0.1.0"}, git_hash=None, seed=0, device="cuda",
        date="2025-01-01")
    (folder / "results.json").write_text(json.dumps(res.to_json()))
    return folder


def test_measured_row_links_settings_interval_and_the_page_refreshed_on_append(tmp_path: Path) -> None:
    from reag_harness.leaderboard.intervals import headline_interval
    from reag_harness.results.run_files import load_sample_logs

    run = write_measured_run(tmp_path / "runs" / "reag7b")
    board = tmp_path / "lb" / "leaderboard.json"
    page = board.parent / "index.html"
    assert main(["leaderboard", "--format", "html", "--file", str(board), "--output", str(page)]) == 0
    assert render(page, "#task=infoseek&source=measured", tmp_path / "profile").rows == []
    assert main(["leaderboard", "append", str(run), "--file", str(board)]) == 0  # re-renders the page beside it
    rows = render(page, "#task=infoseek&source=measured", tmp_path / "profile").rows
    assert [r["data-id"] for r in rows] == ["reag7b-run"]
    row = rows[0]
    assert (page.parent / row["link:results"]).resolve() == (run / "results.json").resolve()
    assert "link:viewer" not in row and "reag-eval view" in row["col:citation"]
    assert (row["col:kb"], row["col:retriever"], row["col:size"], row["col:training"]) == (
        "infoseek_kb_100k", "eva-clip (k=20)", "8.3B", "trained")
    assert row["col:critic"] == "hf-vlm-critic (threshold 0.1)" and row["col:recall"] == "R@1 45.0 · R@5 67.5"
    ci = headline_interval("infoseek", load_sample_logs(run))
    assert ci is not None and ci["lo"] < 48.0 < ci["hi"] and row["col:interval"] == f"[{ci['lo']}, {ci['hi']}]"
    # the viewer page exists after 'reag-eval view'; the next append (any run) links it
    assert main(["view", str(run)]) == 0
    assert main(["leaderboard", "append", str(run), "--file", str(board)]) == 0
    row = render(page, "#task=infoseek&source=measured", tmp_path / "profile").rows[0]
    assert (page.parent / row["link:viewer"]).resolve() == (run / "viewer.html").resolve()


def test_reported_rows_link_paper_and_code_and_search_and_axis(page: Path, tmp_path: Path) -> None:
    view = render(page, "#task=infoseek&source=reported", tmp_path / "profile")
    by_id = {r["data-id"]: r for r in view.rows}
    assert by_id["reag-7b"]["link:paper"] == "https://arxiv.org/abs/2511.22715"
    assert by_id["reag-7b"]["link:code"] == "https://github.com/aimagelab/ReAG"
    assert by_id["reflectiva"]["link:paper"] == "https://arxiv.org/abs/2411.16863"
    assert (by_id["reag-7b"]["col:retriever"], by_id["reag-7b"]["col:size"]) == ("EVA-CLIP-8B + crop (k=20)", "7B")
    assert by_id["qwen2.5-vl-3b-zero-shot"]["col:training"] == "training-free"
    assert view.ticks == ["0.0", "15.0", "30.0", "45.0", "60.0"]  # the chart's axis: 0 to a round maximum
    found = render(page, "#task=infoseek&q=wiki-prf", tmp_path / "profile").rows
    assert {r["data-id"] for r in found} == {"vlm-prf-qwen2.5-vl-3b", "vlm-prf-qwen2.5-vl-7b", "vlm-prf-internvl3-8b"}


def test_every_published_row_has_settings_and_every_citation_links() -> None:
    from reag_harness.leaderboard.settings import annotations

    notes = annotations()
    rows = lb.load_published()
    assert set(notes["settings"]) == {r["id"] for r in rows}
    assert {r["citation"] for r in rows} <= set(notes["links"])


def test_every_reported_row_shows_its_preset_or_the_reason_there_is_none(page: Path, tmp_path: Path) -> None:
    published = {r["id"]: r for r in lb.load_published()}
    for task in ("infoseek", "evqa"):
        rows = render(page, f"#task={task}&source=reported", tmp_path / f"profile-{task}").rows
        assert rows
        for r in rows:
            row = published[r["data-id"]]
            cell = r["col:preset"]
            if "preset" in row:
                assert cell == row["preset"], (r["data-id"], cell)
            else:
                assert cell == "none" and r["title:preset"] == row["no_preset"], (r["data-id"], cell)


def test_every_reported_row_shows_its_provenance_and_the_two_disagreements_are_flagged(page: Path,
                                                                                      tmp_path: Path) -> None:
    published = {r["id"]: r for r in lb.load_published()}
    rows = render(page, "#task=infoseek&source=reported", tmp_path / "profile-prov").rows
    assert len(rows) == 20
    for r in rows:
        prov = published[r["data-id"]]["provenance"]
        assert "Read from: " + prov["location"] in r["col:citation"], r["data-id"]
    by_id = {r["data-id"]: r["col:citation"] for r in rows}
    assert "not the harmonic mean" in by_id["qwen2.5-vl-7b-zero-shot"] and "Copied" in by_id["qwen2.5-vl-7b-zero-shot"]
    assert "30.4" in by_id["echosight-reimpl-visual"] and "Re-implemented" in by_id["echosight-reimpl-visual"]
    html = page.read_text(encoding="utf-8")  # the footer's cautions (rendered by the page from its data)
    assert "is not the harmonic mean (23.43)" in html and "disagrees with CC-VQA" in html
