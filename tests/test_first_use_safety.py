"""Things built on first use (demo images, tiny checkpoints) survive concurrent builders and killed ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from reag_harness.core.errors import InputError
from reag_harness.tasks.demo.task import HERE, DemoTask


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REAG_HARNESS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_demo_images_drawn_by_interleaved_writers(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second writer drawing the same images while the first is mid-save (as concurrent runs do)."""
    real_save = Image.Image.save
    nested = []

    def save(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)
        if not nested:  # the other process, interleaved at the worst moment: after our save, before our rename
            nested.append(fp)
            DemoTask().samples(limit=3)

    monkeypatch.setattr(Image.Image, "save", save)
    samples = DemoTask().samples(limit=3)
    assert all(Image.open(s.image).size == (224, 224) for s in samples)
    assert not list((fresh_cache / "demo").rglob("*.tmp*"))


def test_concurrent_first_use_of_the_demo_task(fresh_cache: Path) -> None:
    code = "from reag_harness.tasks.demo.task import DemoTask; DemoTask().samples()"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert len(list((fresh_cache / "demo" / "images-v1").glob("*.png"))) == 24


@pytest.mark.parametrize("name", ["../escaped.png", "ABSOLUTE", "sub/../../x.png", ""])
def test_image_names_leaving_the_task_folder_are_refused(fresh_cache: Path, tmp_path: Path, name: str) -> None:
    rows = [json.loads(line) for line in (HERE / "questions.jsonl").read_text().splitlines()]
    absolute = tmp_path / "absolute.png"
    rows[1]["image"] = str(absolute) if name == "ABSOLUTE" else name
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"questions.jsonl:2: field 'image'"):
        DemoTask(questions=str(questions)).samples()
    image = rows[1]["image"]
    landing = (fresh_cache / "demo" / "images-v1" / image).resolve()  # where it would be drawn (absolute: itself)
    assert not (fresh_cache / "demo" / "escaped.png").exists() and not absolute.exists()
    assert not image or not landing.exists()


def test_leftovers_of_a_killed_checkpoint_build_are_removed(fresh_cache: Path) -> None:
    from reag_harness.core.paths import tiny_dir
    from reag_harness.models.tiny.clip import TINY_NAME, tiny_clip_checkpoint

    folder = tiny_dir(TINY_NAME)
    folder.mkdir(parents=True)
    debris = folder / "open_clip_model-seed7.4242.tmp"
    debris.write_bytes(b"\0" * 1000)
    assert tiny_clip_checkpoint(seed=7).is_file()
    assert not debris.exists()
