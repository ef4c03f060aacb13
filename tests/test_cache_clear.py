"""``reag-eval cache clear`` deletes only what the stage store can prove it wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from reag_harness.cli.app import main
from reag_harness.pipeline.store import MARKER, StageStore, fingerprint


def make_cache(root: Path) -> list[Path]:
    folders = []
    for stage in ("retrieve", "judge", "generate"):
        store = StageStore(root, stage, fingerprint(stage), {"what": stage})
        store.put_many([("s1", "c", {"x": 1})])
        folders.append(store.dir)
    return folders


def test_unrelated_folders_are_never_removed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "home"
    (victim / ".ssh").mkdir(parents=True)
    (victim / ".ssh" / "id_ed25519").write_text("secret")
    (victim / "notes").mkdir()
    (victim / "retrieve").mkdir()  # a stage name, but not written by the store
    (victim / "retrieve" / "photos").mkdir()
    (victim / "retrieve" / "photos" / "a.jpg").write_text("x")
    assert main(["cache", "clear", "--cache-dir", str(victim)]) == 2
    assert "not a reag-harness stage cache" in capsys.readouterr().err
    assert (victim / ".ssh" / "id_ed25519").read_text() == "secret"
    assert (victim / "notes").is_dir() and (victim / "retrieve" / "photos" / "a.jpg").exists()


def test_clear_lists_and_removes_only_its_own_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "stages"
    own = make_cache(root)
    assert (root / MARKER).is_file()
    (root / "important").mkdir()
    (root / "judge" / "holiday").mkdir()
    foreign = root / "generate" / "ffff0123456789abcdef"  # looks like a fingerprint folder, holds a foreign file
    foreign.mkdir()
    (foreign / "meta.json").write_text('{"stage": "generate", "fingerprint": "ffff0123456789abcdef"}')
    (foreign / "thesis.tex").write_text("x")
    assert main(["cache", "clear", "--cache-dir", str(root), "--dry-run"]) == 0
    assert all(p.exists() for p in own)
    assert main(["cache", "clear", "--cache-dir", str(root)]) == 0
    out, err = capsys.readouterr()
    assert all(f"removing {p}" in out for p in own)
    assert not any(p.exists() for p in own)
    assert (root / "important").is_dir() and (root / "judge" / "holiday").is_dir()
    assert (foreign / "thesis.tex").exists() and str(foreign) in err


def test_pointing_at_the_cache_root_keeps_the_tiny_checkpoints(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    make_cache(tmp_path / "stages")
    (tmp_path / "tiny" / "qwen").mkdir(parents=True)
    (tmp_path / "tiny" / "qwen" / "model.safetensors").write_text("w")
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 2
    assert f"did you mean {tmp_path / 'stages'}" in capsys.readouterr().err
    assert (tmp_path / "tiny" / "qwen" / "model.safetensors").exists()
