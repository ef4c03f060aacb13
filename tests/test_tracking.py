"""``--wandb PROJECT``: a real wandb run in offline mode; without the flag wandb is never imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN = ["--task", "demo", "--limit", "2", "--no-leaderboard", "--quiet"]


def cli(args: list[str], env: dict[str, str], block_wandb: bool = False) -> subprocess.CompletedProcess:
    """The CLI in a fresh process; ``block_wandb``: any ``import wandb`` fails there (as if not installed)."""
    code = (("import sys; sys.modules['wandb'] = None; " if block_wandb else "import sys; ")
            + "from reag_harness.cli.app import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600, env=env)


def test_wandb_offline_run_and_no_import_unless_asked(tmp_path: Path) -> None:
    pytest.importorskip("wandb", reason="the 'tracking' extra (pip install wandb)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_DIR=str(tmp_path / "wandb_dir"), WANDB_SILENT="true", HOME=str(tmp_path))  # no credentials
    # without --wandb the harness never needs wandb (some libraries, e.g. timm, try to import it themselves)
    plain = cli([*RUN, "--output-dir", str(tmp_path / "plain")], env, block_wandb=True)
    assert plain.returncode == 0, plain.stderr[-2000:]
    sources = [p for p in Path(__file__).resolve().parent.parent.glob("reag_harness/**/*.py")
               if "import wandb" in p.read_text()]
    assert [p.name for p in sources] == ["tracking.py"]  # one module, imported only for --wandb
    blocked = cli([*RUN, "--output-dir", str(tmp_path / "plain"), "--wandb", "p"], env, block_wandb=True)
    assert blocked.returncode == 2 and "pip install 'reag-harness[tracking]'" in blocked.stderr
    (tmp_path / "wandb_dir").mkdir()
    tracked = cli([*RUN, "--output-dir", str(tmp_path / "tracked"), "--wandb", "reag-test"], env)
    assert tracked.returncode == 0, tracked.stderr[-3000:]
    runs = list((tmp_path / "wandb_dir" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "wandb_dir").rglob("*"))[:20]  # offline: no credentials, no network
    log = next(runs[0].glob("*.wandb")).read_bytes()  # the run's log, for a later 'wandb sync'
    for text in (b"accuracy", b"retrieval/recall@1", b"reag-run", b"results.json", b"samples.jsonl", b"demo"):
        assert text in log, text  # the summary, the artifact and its files, the config
    table = json.loads(next(runs[0].glob("files/media/table/samples_*.table.json")).read_text())
    assert table["columns"][:5] == ["id", "question", "references", "answer", "correct"] and len(table["data"]) == 2
