"""Headless-Chromium screenshots of the leaderboard page and the run viewer for docs/ (``make screenshots``).

The leaderboard page is the checked-in one's rows (published rows plus ``leaderboard/leaderboard.json``);
the viewer page is a demo run on tiny checkpoints. Each page is
shot at 1400x1000 and the script fails when the table is wider than the window (a cut column).
Needs /usr/bin/chromium (``make browser``). Writes docs/leaderboard.png and docs/viewer.png.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1400, 1000
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--window-size={WIDTH},{HEIGHT}"]


def chromium(page: Path, fragment: str, profile: Path, *args: str) -> str:
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri() + fragment]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return out.stdout


def table_fits(page: Path, fragment: str, profile: Path) -> None:
    """Fail when the page's table is wider than the window (its width is written into the DOM by a probe)."""
    probe = page.with_name(page.stem + "-probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<script>document.body.setAttribute('data-table-width', String((document.querySelector("
        "'table') || document.body).scrollWidth));document.body.setAttribute('data-doc-width', String("
        "document.documentElement.scrollWidth));</script></body>"), encoding="utf-8")
    dom = chromium(probe, fragment, profile, "--dump-dom")
    probe.unlink()
    table = int(dom.split('data-table-width="')[1].split('"')[0])
    doc = int(dom.split('data-doc-width="')[1].split('"')[0])
    print(f"{page.name}{fragment}: table {table}px, document {doc}px, window {WIDTH}px")
    if doc > WIDTH:
        raise SystemExit(f"{page.name}: the page is {doc}px wide, more than {WIDTH}px: a column is cut")


def shot(page: Path, fragment: str, out: Path, profile: Path) -> None:
    table_fits(page, fragment, profile)
    chromium(page, fragment, profile, f"--screenshot={out}")
    from PIL import Image

    Image.open(out).convert("RGB").quantize(colors=64).save(out, optimize=True)  # small enough to check in
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


def main() -> int:
    from reag_harness.api import evaluate
    from reag_harness.cli.app import main as cli

    work = Path(tempfile.mkdtemp(prefix="reag-shots-"))
    board = ROOT / "leaderboard" / "leaderboard.json"
    page = work / "index.html"
    assert cli(["leaderboard", "--format", "html", "--file", str(board), "--output", str(page)]) == 0
    profile = work / "profile"
    shot(page, "#task=infoseek", ROOT / "docs" / "leaderboard.png", profile)

    results = evaluate(task="demo", generator="hf-vlm", generator_args="pretrained=tiny:qwen2.5-vl", limit=3,
                       output_dir=str(work / "runs"), quiet=True)
    run_dir = Path(results.config["run_dir"])
    assert cli(["view", str(run_dir)]) == 0
    shot(run_dir / "viewer.html", "", ROOT / "docs" / "viewer.png", profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
