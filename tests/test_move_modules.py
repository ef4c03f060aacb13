"""tools/move_modules.py on a small git repository of its own: files moved, every kind of reference rewritten,
the moved package imports and runs, and what cannot be applied is refused before anything changes.

move_modules: leave this file alone (its texts are the tool's input and expected output, not references).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "move_modules.py"

FILES = {
    "pyproject.toml": """
        [tool.setuptools.package-dir]
        pkg = "pkg"
        "pkg.plugins" = "plugins"

        [tool.ruff]
        line-length = 120

        [project.scripts]
        pkg-cli = "pkg.cli:main"
    """,
    "pkg/__init__.py": "",
    "pkg/errors.py": "class Oops(Exception):\n    pass\n",
    "pkg/board.py": """
        from pathlib import Path

        from .errors import Oops

        DATA = Path(__file__).resolve().parent.parent / "data"


        def rows():
            from . import board_view

            return board_view.render(Oops.__name__)
    """,
    "pkg/board_view.py": "def render(x):\n    return f'<{x}>'\n",
    "pkg/cli.py": """
        import importlib

        from pkg import board, errors as errs

        COMMANDS = {"board": "pkg.board"}


        def main():
            return importlib.import_module(COMMANDS["board"]).rows(), errs.Oops
    """,
    "pkg/kb/__init__.py": "",
    "pkg/kb/store.py": "from ..errors import Oops\nfrom . import util\n\nSTORE = (Oops, util.X)\n",
    "pkg/kb/util.py": "X = 1\n",
    "plugins/__init__.py": "",
    "plugins/thing.py": "from pkg.kb.store import STORE\nfrom pkg.board import rows\n",
    "tests/__init__.py": "",
    "tests/test_x.py": '''
        from unittest import mock

        from pkg.board import rows

        SCRIPT = """
        from pkg import board
        print(board.rows())
        """


        def test_rows():
            with mock.patch("pkg.board_view.render", return_value="r"):
                assert rows() == "r"
    ''',
    "docs/guide.md": "See `pkg/board.py`, `kb/store.py` and `pkg.board.rows`; run `python -m pkg.cli`.\n",
    "docs/plugins.md": "A plugin may use `pkg.kb.store.STORE`.\n",
    "Makefile": "run:\n\tpython -m pkg.cli\n",
}

MAPPING = """
# a module becomes part of a package of its own name; a package moves whole
pkg.board -> pkg.leaderboard.board
pkg.board_view -> pkg.leaderboard.view
pkg.kb -> pkg.data.kb
pkg.errors -> pkg.core.errors
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("needs git")
    root = tmp_path / "repo"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip("\n"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root


def move(repo: Path, mapping: str, *args: str) -> subprocess.CompletedProcess:
    (repo.parent / "mapping.txt").write_text(mapping)
    return subprocess.run([sys.executable, str(TOOL), str(repo.parent / "mapping.txt"), "--repo", str(repo), *args],
                          capture_output=True, text=True, timeout=120)


def test_moves_rewrite_every_reference_and_the_package_still_runs(repo: Path) -> None:
    out = move(repo, MAPPING)
    assert out.returncode == 0, out.stderr
    read = lambda name: (repo / name).read_text()  # noqa: E731
    assert not (repo / "pkg/board.py").exists() and not (repo / "pkg/kb").exists()
    assert "TODO(#25)" in read("pkg/leaderboard/__init__.py") and "TODO(#25)" in read("pkg/core/__init__.py")
    board = read("pkg/leaderboard/board.py")
    assert "from ..core.errors import Oops" in board  # relative import recomputed from the new place
    assert "from . import view" in board or "from . import view as board_view" in board  # function-level import
    assert 'Path(__file__).resolve().parent.parent.parent / "data"' in board  # same folder as before
    assert "from ...core.errors import Oops" in read("pkg/data/kb/store.py")
    assert "from . import util" in read("pkg/data/kb/store.py")  # inside the moved package: unchanged
    cli = read("pkg/cli.py")
    assert "from pkg.leaderboard import board" in cli and "from pkg.core import errors as errs" in cli
    assert '"pkg.leaderboard.board"' in cli  # a dotted name in a string
    assert "from pkg.data.kb.store import STORE" in read("plugins/thing.py")  # the mapped folder's imports
    test = read("tests/test_x.py")
    assert 'mock.patch("pkg.leaderboard.view.render"' in test
    assert "from pkg.leaderboard import board\nprint" in test  # import inside a string of code
    assert read("docs/guide.md") == ("See `pkg/leaderboard/board.py`, `data/kb/store.py` and "
                                     "`pkg.leaderboard.board.rows`; run `python -m pkg.cli`.\n")
    assert 'pkg-cli = "pkg.cli:main"' in read("pyproject.toml")
    assert "Path(__file__) chain re-pointed" in out.stdout
    assert "pkg.kb: third parties are told to use it" in out.stdout  # a re-export to consider
    assert read("docs/plugins.md") == "A plugin may use `pkg.data.kb.store.STORE`.\n"
    status = git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert "pkg/leaderboard/board.py" in "\n".join(status)
    assert all(line[1] == " " for line in status), status  # everything staged, nothing left over
    env = {**os.environ, "PYTHONPATH": str(repo)}
    run = subprocess.run([sys.executable, "-c", "from pkg.cli import main; print(main()[0])"], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "<Oops>"
    again = move(repo, MAPPING)  # a second run on the (now dirty) tree changes nothing
    assert again.returncode == 2 and "not clean" in again.stderr
    git(repo, "commit", "-qm", "moved")
    again = move(repo, MAPPING)
    assert again.returncode == 2 and "already moved?" in again.stderr


@pytest.mark.parametrize("mapping, message", [
    ("pkg.board_view -> pkg.board.view\n", "pkg/board.py and the package pkg/board/ would both exist"),
    ("pkg.nothing -> pkg.core.nothing\n", "pkg.nothing is neither pkg/nothing.py nor a folder"),
    ("pkg.board -> pkg.kb.util\n", "already exists"),
    ("pkg.board pkg.x\n", "expected 'old.dotted.module -> new.dotted.module'"),
])
def test_a_mapping_that_cannot_apply_is_refused_before_any_change(repo: Path, mapping: str, message: str) -> None:
    out = move(repo, mapping)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert git(repo, "status", "--porcelain") == ""
