"""Shards on a real Slurm: ``examples/slurm/reag_array.sh`` as ``sbatch --array=0-1``, one task killed by its
time limit and resubmitted, then ``merge``; the merged ``samples.jsonl`` equals an unsharded run's.

Needs Debian's munge, slurmctld, slurmd and slurm-client (``make slurm`` installs them as root) and
runs a one-node cluster of its own (:mod:`tests.slurm_cluster`); skipped, saying why, elsewhere.
The demo task with the tiny checkpoints, 8 questions, 2 pages each; about two minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .slurm_cluster import Cluster, missing

REPO = Path(__file__).resolve().parent.parent
RUN_ARGS = "--task demo --limit 8 --retriever-args top_k=2 --chunk-size 1 --quiet"
# reag-eval whose generate stage stalls from the second chunk on in the array task REAG_TEST_SLOW_TASK, so
# that the Slurm time limit kills it mid-run, with one chunk finished and the next one's critic scores stored
SLOW_EVAL = """
import os, sys, time
from reag_harness.pipeline.stage_generate import GenerateStage
if os.environ.get("SLURM_ARRAY_TASK_ID") == os.environ.get("REAG_TEST_SLOW_TASK"):
    original, calls = GenerateStage.run, []
    def run(self, *args, **kwargs):
        calls.append(1)
        if len(calls) >= 2:
            print("stalling until the time limit", flush=True)
            time.sleep(3600)
        return original(self, *args, **kwargs)
    GenerateStage.run = run
from reag_harness.cli.app import main
sys.exit(main(sys.argv[1:]))
"""

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))


@pytest.fixture
def cluster(tmp_path: Path):
    c = Cluster(Path(f"/tmp/reag-slurm-{os.getpid()}-{tmp_path.name[-20:]}"))  # short: socket paths
    c.start()
    try:
        yield c
    finally:
        c.run("scancel", "--user=root", "--name=reag-eval", check=False)
        c.stop()
        shutil.rmtree(c.root, ignore_errors=True)


def adapted_script(tmp_path: Path) -> Path:
    """The example with this node's resources: no GPU, memory or 8-CPU request."""
    lines = (REPO / "examples/slurm/reag_array.sh").read_text().splitlines()
    drop = ("#SBATCH --gres", "#SBATCH --mem", "#SBATCH --cpus-per-task", "#SBATCH --time")
    script = tmp_path / "reag_array.sh"
    script.write_text("\n".join(x for x in lines if not x.startswith(drop)) + "\n")
    return script


def computed(run_dir: Path) -> dict[str, tuple[int, int]]:
    timings = json.loads((run_dir / "results.json").read_text())["timings"]
    return {t["stage"]: (t["n_computed"], t["n_cached"]) for t in timings}


def test_array_shards_with_a_time_limit_kill_merge_into_the_unsharded_run(cluster, tmp_path, harness_cache):
    slow = tmp_path / "slow_eval.py"
    slow.write_text(SLOW_EVAL)
    env = {**cluster.env, "PYTHONPATH": str(REPO), "REAG_HARNESS_CACHE": str(harness_cache)}
    # the unsharded run, with its own stage cache (also builds the tiny checkpoints the shards share)
    whole = subprocess.run([sys.executable, "-m", "reag_harness.cli", *RUN_ARGS.split(), "--output-dir",
                            str(tmp_path / "whole"), "--cache-dir", str(tmp_path / "stages-whole"),
                            "--no-leaderboard"], env=env, capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    shards_dir, stages = tmp_path / "shards", tmp_path / "stages"
    job_env = {**env, "REAG_SHARDS": "2", "REAG_EVAL": f"{sys.executable} {slow}", "REAG_TEST_SLOW_TASK": "1",
               "REAG_ARGS": f"{RUN_ARGS} --output-dir {shards_dir} --cache-dir {stages}"}
    script = adapted_script(tmp_path)
    logs = f"--output={tmp_path}/slurm-%A_%a.out"

    def sbatch(array: str, *more: str) -> str:
        out = subprocess.run([cluster.tool("sbatch"), "--parsable", f"--array={array}", logs, f"--chdir={tmp_path}",
                              *more, str(script)], env=job_env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().split(";")[0]

    job = sbatch("0-1", "--time=1")  # one minute: task 0 ends well within it; task 1 stalls and is killed
    states = cluster.wait_done([f"{job}_0", f"{job}_1"], timeout=420)
    assert states == {f"{job}_0": "COMPLETED", f"{job}_1": "TIMEOUT"}, (states, cluster.logs())
    killed = next(shards_dir.glob("*__shard1of2"))
    assert not (killed / "results.json").exists()
    # resubmitted as is (REAG_TEST_SLOW_TASK no longer matches): it finishes from the stored records
    job_env["REAG_TEST_SLOW_TASK"] = "none"
    again = sbatch("1", "--time=10")
    assert cluster.wait_done([f"{again}_1"], timeout=420) == {f"{again}_1": "COMPLETED"}, cluster.logs()
    # killed while chunk 2 (of 4) waited for its generation: its retrieval and critic scores were stored,
    # so only generation of chunk 2, and chunks 3-4 which never started, are computed again
    assert computed(killed) == {"retrieve": (2, 2), "judge": (2, 2), "generate": (3, 1), "score": (4, 0)}
    out = subprocess.run([sys.executable, "-m", "reag_harness.cli", "merge", *map(str, sorted(shards_dir.iterdir())),
                          "--output-dir", str(tmp_path / "merged"), "--no-leaderboard"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    [merged] = (tmp_path / "merged").iterdir()  # like run, merge writes its run folder inside --output-dir
    reference = next((tmp_path / "whole").iterdir())
    assert (merged / "samples.jsonl").read_bytes() == (reference / "samples.jsonl").read_bytes()
    assert json.loads((merged / "results.json").read_text())["metrics"] == \
        json.loads((reference / "results.json").read_text())["metrics"]
