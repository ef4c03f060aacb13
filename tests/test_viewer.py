"""``reag-eval view``: the per-sample page, loaded in a real headless browser (Debian's chromium).

Filters, search and paging are driven through the URL hash (the page keeps its state there), and
the rendered DOM is read back with ``--dump-dom``. Skipped only when /usr/bin/chromium is absent
(CI installs it: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from reag_harness.cli.app import main
from reag_harness.core.config import RunConfig
from reag_harness.results.viewer import write_viewer
from tests.kbdata import synth

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)")


class SampleReader(HTMLParser):
    """The ``div.sample`` cards (their attributes), passages, badges and the body's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.samples: list[dict[str, str]] = []
        self.options: dict[str, dict[str, str]] = {}
        self.classes: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        elif tag == "div" and a.get("class") == "sample":
            self.samples.append(a)
        elif tag == "option" and "data-count" in a:
            self.options[a["value"]] = a
        if "class" in a:
            self.classes.append(a["class"])

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def browse(page: Path, fragment: str, profile: Path) -> SampleReader:
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--dump-dom", page.resolve().as_uri() + fragment]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    reader = SampleReader()
    reader.feed(out.stdout)
    assert reader.body.get("data-rendered") == "1", "the page's script did not finish"
    return reader


def assert_self_contained(page: Path) -> None:
    html = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "default-src 'none'" in html  # the page's CSP forbids any request


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo_runs")
    assert main(["--task", "demo", "--limit", "4", "--output-dir", str(out), "--no-leaderboard", "--quiet"]) == 0
    return next(out.iterdir())


def test_demo_run_page_filters_searches_and_pages(demo_run: Path, tmp_path: Path) -> None:
    assert main(["view", str(demo_run), "--page-size", "3"]) == 0
    page = demo_run / "viewer.html"
    assert_self_contained(page)
    logs = [json.loads(line) for line in (demo_run / "samples.jsonl").read_text().splitlines()]
    view = browse(page, "", tmp_path / "p")
    assert [s["data-id"] for s in view.samples] == [r["id"] for r in logs[:3]]  # first page of 3
    assert view.body["data-shown"] == "4" and "passage kept" in " ".join(view.classes)
    second = browse(page, "#page=2", tmp_path / "p")
    assert [s["data-id"] for s in second.samples] == [logs[3]["id"]]
    wrong = browse(page, "#outcome=wrong", tmp_path / "p")
    expected = [r["id"] for r in logs if r["score"]["correct"] == 0]
    assert view.body["data-shown"] == "4" and wrong.body["data-shown"] == str(len(expected))
    assert all(s["data-correct"] == "0" for s in wrong.samples)
    word = logs[1]["question"].split()[-1].rstrip("?")
    found = browse(page, f"#q={word}", tmp_path / "p")
    assert logs[1]["id"] in [s["data-id"] for s in found.samples]
    assert all(word.lower() in r["question"].lower() or word.lower() in (r["answer"] or "").lower()
               for r in logs if r["id"] in [s["data-id"] for s in found.samples])
    assert browse(page, "#q=zzzz-no-such-word", tmp_path / "p").body["data-shown"] == "0"


@pytest.fixture(scope="module")
def evqa_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real EVQA run: EVA-CLIP (tiny) with the query crop (the retriever tests' stand-in cropper), the tiny
    critic with a threshold, one sample with a missing image recorded as an error."""
    from reag_harness.pipeline.runner import Pipeline
    from tests.test_eva_clip_retriever import HalfCropper

    root = tmp_path_factory.mktemp("evqa")
    mk = synth()
    mk.write_kb(root / "kb.json", 24, "evqa")
    data = mk.write_evqa_queries(root / "q", 4, 24)
    assert main(["kb", "build", "--task", "evqa", "--input", str(root / "kb.json"), "--output", str(root / "store"),
                 "--quiet"]) == 0
    (data["images"] / "img00001.png").unlink()
    task_args = f"kb={root / 'store'},queries={data['queries']},images={data['images']},no_bem=true"
    cfg = RunConfig.from_mapping({
        "task": "evqa", "task_args": task_args,
        "retriever": "tiny-eva-clip", "retriever_args": "top_k=3,crop=true", "critic": "tiny-critic",
        "critic_args": "threshold=0.3", "generator": "tiny-qwen2.5-vl", "prompt_style": "reag-reasoning",
        "output_dir": str(root / "runs"), "on_error": "skip", "quiet": True}, source="test")
    pipeline = Pipeline(cfg)
    pipeline.retriever._cropper = HalfCropper()
    pipeline.run()
    return pipeline.run_folder()


def test_evqa_run_with_crop_and_critic(evqa_run: Path, tmp_path: Path) -> None:
    page = tmp_path / "evqa.html"
    assert main(["view", str(evqa_run), "--output", str(page)]) == 0
    assert_self_contained(page)
    logs = {r["id"]: r for r in map(json.loads, (evqa_run / "samples.jsonl").read_text().splitlines())}
    view = browse(page, "", tmp_path / "p")
    assert {s["data-id"] for s in view.samples} == set(logs)
    text = " ".join(view.text)
    crops = [t for t in view.text if t.startswith("Query crop")]
    with_crop = [r for r in logs.values() if (r["retrieval_info"] or {}).get("crop")]
    expected = sorted("Query crop: " + ("used, entity 'building' (detected)" if c["used"] else
                                        f"not used ({c['reason']})")
                      for c in (r["retrieval_info"]["crop"] for r in with_crop))
    assert len(with_crop) >= 3 and sorted(c.split(", box")[0] for c in crops) == expected, crops
    assert "image" in logs["q1"]["error"] and "Error: " in text
    errors = browse(page, "#errors=1", tmp_path / "p")
    assert [s["data-id"] for s in errors.samples] == ["q1"]
    kept = sum(p["kept"] for r in logs.values() for p in r["passages"])
    assert " ".join(view.classes).count("passage kept") == kept  # the critic's kept passages are highlighted
    hits = [i for i, r in logs.items() if r["retrieved_pages"]
            and set(r["meta"]["gold_pages"]) & {k for k, _ in r["retrieved_pages"]}]
    gold = browse(page, "#gold=hit", tmp_path / "p")
    assert sorted(s["data-id"] for s in gold.samples) == sorted(hits)


def write_synthetic_run(folder: Path, n: int, right: set[int], images: list[Path]) -> Path:
    """A run folder shaped like a real one: 20 pages and 15 passages per sample, a shared page pool."""
    folder.mkdir(parents=True)
    with (folder / "samples.jsonl").open("w") as fh:
        for i in range(n):
            pages = [[f"https://kb/wiki/Page_{(i * 7 + j) % 5000}", 0.9 - j / 100] for j in range(20)]
            passages = [{"page_key": pages[j // 3][0], "index": j % 3, "kept": j % 4 == 0, "p_yes": (j % 10) / 10,
                         "text": f"Passage {j % 3} of page {(i * 7 + j // 3) % 5000}: a sentence about it."}
                        for j in range(15)]
            fh.write(json.dumps({
                "id": f"s{i:05d}", "question": f"What is the height of landmark number {i}?",
                "image": str(images[i % len(images)]), "references": [str(i)],
                "meta": {"gold_pages": [pages[i % 25][0] if i % 25 < 20 else "https://kb/wiki/None"],
                         "question_type": ("templated", "automatic", "2_hop")[i % 3]},
                "retrieved_pages": pages, "passages": passages, "raw_output": "<answer>x</answer>",
                "reasoning": "Because the passage says so.", "answer": str(i if i in right else -1),
                "score": {"correct": int(i in right), "missing": False}, "error": None,
            }) + "\n")
    (folder / "results.json").write_text(json.dumps({
        "run_id": folder.name, "task": "evqa", "split": "test", "n": n, "headline_metric": "single_hop",
        "metrics": {"single_hop": 100 * len(right) / n, "n": n},
        "retrieval_quality": {"recall@1": 4.0, "recall@5": 20.0, "passages_kept_mean": 3.75},
    }))
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    out = []
    for i in range(40):
        path = folder / f"img{i}.png"
        Image.new("RGB", (320, 240), (i * 6, 100, 200 - i * 4)).save(path)
        out.append(path)
    return out


def test_ten_thousand_samples_render_the_first_page_fast(tmp_path: Path, images: list[Path]) -> None:
    run = write_synthetic_run(tmp_path / "big", 10_000, set(range(0, 10_000, 3)), images)
    page = write_viewer([run])
    size_mb = page.stat().st_size / 1e6
    assert size_mb < 40, size_mb  # page keys and passage texts are stored once
    view = browse(page, "", tmp_path / "p")
    assert len(view.samples) == 25 and view.body["data-shown"] == "10000"
    assert int(view.body["data-first-page-ms"]) < 2000, view.body["data-first-page-ms"]
    last = browse(page, "#outcome=wrong&page=267", tmp_path / "p")  # 6666 wrong: page 267 holds the last 16
    assert last.body["data-shown"] == "6666" and len(last.samples) == 16 and last.body["data-page"] == "267"
    assert "img" in " ".join(view.classes) or page.read_text().count("data:image/jpeg;base64,") == 40


def test_two_runs_side_by_side_with_compare_counts(tmp_path: Path, images: list[Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    a = write_synthetic_run(tmp_path / "a", 60, set(range(0, 40)), images)
    b = write_synthetic_run(tmp_path / "b", 60, set(range(10, 55)), images)
    assert main(["compare", str(a), str(b), "--json", "--n-boot", "200"]) == 0
    report = json.loads(capsys.readouterr().out)
    overall = next(c for c in report["comparisons"] if c["metric"] == "correct" and c["group"] == "all")
    page = tmp_path / "pair.html"
    assert main(["view", str(a), str(b), "--output", str(page)]) == 0
    view = browse(page, "", tmp_path / "p")
    assert int(view.options["a"]["data-count"]) == overall["n_a_only"] == 10  # 0-9: only A right
    assert int(view.options["b"]["data-count"]) == overall["n_b_only"] == 15  # 40-54: only B right
    only_a = browse(page, "#pair=a", tmp_path / "p")
    assert [s["data-id"] for s in only_a.samples] == [f"s{i:05d}" for i in range(10)]
    assert all(s["data-pair"] == "a" for s in only_a.samples)
    only_b = browse(page, "#pair=b&page=1", tmp_path / "p")
    assert only_b.body["data-shown"] == "15" and " ".join(only_a.text).count("Run A") == 10
