"""``reag-eval view RUN_DIR [RUN_B]``: write the per-sample viewer page (one self-contained HTML file)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="a run folder (or one of its results_<time>.json), or two to show side by side")
    parser.add_argument("--output", "-o", help="the HTML file (default RUN_DIR/viewer.html; two runs: "
                                               "RUN_A/viewer_vs_<RUN_B>.html)")
    parser.add_argument("--thumbnails", choices=("auto", "embed", "link", "none"), default="auto",
                        help="query images: embed small JPEG thumbnails, link to the image files (relative to the "
                             "page), or none; auto embeds up to 2000 distinct images (default)")
    parser.add_argument("--page-size", type=int, default=25, help="samples per page (default 25)")


def run(args: argparse.Namespace) -> int:
    from ...core.errors import HarnessError
    from ...results.viewer import write_viewer

    if len(args.runs) > 2:
        raise HarnessError("'reag-eval view' takes one run folder, or two to compare")
    if args.page_size < 1:
        raise HarnessError("--page-size must be positive")
    out = write_viewer(args.runs, args.output, args.thumbnails, args.page_size)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); open it in a browser (no server needed)")
    return 0
