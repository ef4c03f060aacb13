"""``make demo`` on a fresh clone (``reag-eval --task demo`` from inside the checkout) leaves ``git status`` clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs git and a checkout")
def test_demo_inside_a_fresh_clone_leaves_git_status_clean(tmp_path: Path, harness_cache: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k != "REAG_LEADERBOARD"}  # the default leaderboard, as a user
    env["REAG_HARNESS_CACHE"] = str(harness_cache)
    out = subprocess.run([sys.executable, "-m", "reag_harness.cli", "--task", "demo", "--limit", "2", "--quiet"],
                         cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (clone / "runs").is_dir()  # the run folder, ignored by .gitignore
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert status.stdout == ""
