"""Built as a wheel and installed non-editable into a fresh venv, the harness works outside any checkout.

The venv reuses this environment's third-party packages through a ``.pth`` line (no download, no
torch reinstall); the harness itself comes only from the wheel. The venv sits inside a user's own
git repository, which must neither be written to nor have its commit recorded as the harness's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ("reag_harness", "tasks", "plugins", "leaderboard", "docs")


def clean_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REAG_WT", "REAG_LEADERBOARD")}
    env.update(REAG_HARNESS_CACHE=str(cache), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               REAG_HARNESS_BLOCK_PLUGINS="keyword", **extra)  # the template plugin is an editable install here
    return env


def git(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, harness_cache: Path) -> dict[str, Path]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in PACKAGED:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = clean_env(harness_cache)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(root / "dist"), str(src)], capture_output=True, text=True, env=env,
                           timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((root / "dist").glob("reag_harness-*.whl"))
    user = root / "user-repo"  # the user's own project, a checkout-like folder with the harness's .gitignore
    (user / "leaderboard").mkdir(parents=True)
    shutil.copy2(ROOT / ".gitignore", user / ".gitignore")
    shutil.copy2(ROOT / "leaderboard" / "leaderboard.json", user / "leaderboard" / "leaderboard.json")
    git("init", "-q", cwd=user)
    git("add", "-A", cwd=user)
    git("commit", "-q", "-m", "user's project", cwd=user)
    venv = user / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "shared_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                              "-q", str(wheel)], capture_output=True, text=True, env=env, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    return {"root": root, "user": user, "venv": venv, "py": py, "cli": venv / "bin" / "reag-eval",
            "cache": harness_cache, "site": Path(site)}


def run(installed: dict[str, Path], *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed["cli"]), *args], cwd=cwd or installed["root"], capture_output=True, text=True,
                          env=clean_env(installed["cache"], **env), timeout=600)


def test_the_wheel_ships_the_published_rows(installed: dict[str, Path]) -> None:
    where = subprocess.run([str(installed["py"]), "-c", "import reag_harness.leaderboard.board as lb; "
                            "print(lb.__file__); print(lb.PUBLISHED_PATH)"], cwd=installed["root"],
                           capture_output=True, text=True, env=clean_env(installed["cache"]), timeout=120)
    module, published = where.stdout.split()
    assert module.startswith(str(installed["site"])) and published.startswith(str(installed["site"]))
    board = installed["root"] / "mine.json"
    ok = run(installed, "leaderboard", "validate", REAG_LEADERBOARD=str(board))
    assert ok.returncode == 0, ok.stderr
    assert " 0 reported rows" not in ok.stdout and "reported rows" in ok.stdout
    shown = run(installed, "leaderboard", "--format", "json", REAG_LEADERBOARD=str(board))
    assert shown.returncode == 0, shown.stderr
    assert len([r for r in json.loads(shown.stdout)["rows"] if r["source"] == "reported"]) >= 10
    page = installed["root"] / "page.html"  # the page templates and assets are package data too
    html = run(installed, "leaderboard", "--format", "html", "--output", str(page), REAG_LEADERBOARD=str(board))
    assert html.returncode == 0, html.stderr
    assert "arxiv.org/abs/2511.22715" in page.read_text() and "--measured" in page.read_text()


def test_error_messages_point_to_docs_the_wheel_ships(installed: dict[str, Path]) -> None:
    """No [project.urls] yet: a message names the installed copy of the page, which exists."""
    bad = run(installed, "--task", "evqa", "--generator", "tiny-qwen2.5-vl", "--retriever", "none", "--critic", "none",
              "--no-leaderboard")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    named = [w.rstrip(").,;") for w in bad.stderr.split() if w.rstrip(").,;").endswith("data.md")]
    assert named, bad.stderr
    assert named[0].startswith(str(installed["site"])) and Path(named[0]).is_file(), named


def test_the_demo_runs_outside_the_checkout_and_leaves_the_users_repo_clean(installed: dict[str, Path]) -> None:
    user = installed["user"]
    out = run(installed, "--task", "demo", "--limit", "2", "--quiet", cwd=user)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "not added to the leaderboard" in out.stderr  # a smoke run, nothing appended by default
    assert git("status", "--porcelain", cwd=user) == ""  # runs/ and .venv/ are ignored; leaderboard untouched
    results = json.loads(next((user / "runs").glob("*/results.json")).read_text())
    assert results["versions"]["harness"] == "0.1.0"
    assert results["git_hash"] is None  # not the user's repository commit
