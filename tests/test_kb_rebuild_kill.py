"""``kb build`` over an existing store, killed at any point, leaves a usable store and no debris."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reag_harness.data.kb.build import build_store
from reag_harness.data.kb.store import open_kb

OLD = {f"https://en.wikipedia.org/wiki/Old{i}": {"title": f"Old {i}", "section_texts": [f"old {i}"]} for i in range(50)}
NEW = {f"https://en.wikipedia.org/wiki/New{i}": {"title": f"New {i}", "section_texts": [f"new {i}"]} for i in range(50)}

CHILD = r"""
import os, shutil, signal, sys
from pathlib import Path
from reag_harness.data.kb.build import build_store

src, out, point = sys.argv[1:4]
real_replace = os.replace
calls = []

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def replace(a, b):
    real_replace(a, b)
    calls.append(a)
    if point == f"after-rename-{len(calls)}":
        die()

def rmtree(path, *args, **kwargs):
    (Path(path) / "meta.json").unlink(missing_ok=True)  # half deleted, then killed
    die()

os.replace = replace
if point == "deleting":
    shutil.rmtree = rmtree
build_store(src, out, "evqa", batch_pages=8, progress=(lambda msg: die()) if point == "writing" else None)
"""


@pytest.mark.parametrize("point", ["writing", "after-rename-1", "after-rename-2", "deleting"])
def test_killed_rebuild_leaves_a_usable_store(tmp_path: Path, point: str) -> None:
    old_src, new_src = tmp_path / "old.json", tmp_path / "new.json"
    old_src.write_text(json.dumps(OLD))
    new_src.write_text(json.dumps(NEW))
    out = tmp_path / "kb" / "store"
    build_store(str(old_src), str(out), "evqa")
    child = subprocess.run([sys.executable, "-c", CHILD, str(new_src), str(out), point], capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == -9, child.stderr
    kb = open_kb(str(out), kind="evqa")  # usable: the old store, or the new one when the swap had happened
    assert set(kb.keys()) in (set(OLD), set(NEW))
    build_store(str(new_src), str(out), "evqa")  # a rebuild runs without any manual clean-up
    assert set(open_kb(str(out)).keys()) == set(NEW)
    assert sorted(p.name for p in out.parent.iterdir()) == ["store"]  # no build folders or old stores left
