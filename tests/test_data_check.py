"""``reag-eval data check`` on synthetic EVQA / InfoSeek data, and the same checks as the run's pre-flight."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from reag_harness.api import evaluate
from reag_harness.cli.app import main
from reag_harness.core.preflight import PreflightError
from reag_harness.data.check import KNOWN_FILES, known_file_check, remembered_sha256
from reag_harness.data.retrieval.faiss_index import build_index
from tests.kbdata import synth


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reag_harness.cli", *args], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ))


@pytest.fixture(scope="module")
def evqa(tmp_path_factory):
    root = tmp_path_factory.mktemp("evqa_check")
    mk = synth()
    mk.write_kb(root / "kb.json", 60, "evqa")
    data = mk.write_evqa_queries(root / "q", 8, 60)
    built = cli("kb", "build", "--task", "evqa", "--input", str(root / "kb.json"), "--output", str(root / "store"),
                "--quiet")
    assert built.returncode == 0, built.stderr
    keys = list(json.loads((root / "kb.json").read_text()))
    vectors = np.random.default_rng(0).standard_normal((len(keys), 32)).astype(np.float32)
    build_index(vectors, keys, root / "index")
    return root, data


def evqa_args(root, data, **over) -> str:
    args = {"kb": root / "store", "queries": data["queries"], "images": data["images"], "index": root / "index",
            "no_bem": "true", **over}
    return ",".join(f"{k}={v}" for k, v in args.items())


def check(task: str, task_args: str, *extra: str) -> tuple[int, dict]:
    """``reag-eval data check ... --json`` in this process (the CLI's main, output captured)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["data", "check", "--task", task, "--task-args", task_args, "--retriever", "oracle-page",
                     "--json", *extra])
    return code, {c["name"]: c for c in json.loads(out.getvalue())["checks"]}


def test_synthetic_evqa_is_ok_and_the_table_is_printed(evqa):
    root, data = evqa
    code, rows = check("evqa", evqa_args(root, data))
    assert code == 0, rows
    assert rows["images"]["status"] == "ok" and rows["images"]["detail"].startswith("8 found, 0 missing")
    assert rows["gold pages"]["status"] == "ok" and rows["faiss index"]["status"] == "ok"
    assert "60 rows, dimension 32" in rows["faiss index"]["detail"]
    table = cli("data", "check", "--task", "evqa", "--task-args", evqa_args(root, data), "--retriever", "oracle-page")
    assert table.returncode == 0 and "everything needed is present" in table.stdout and "OK" in table.stdout
    assert "Traceback" not in table.stderr


def test_missing_image_truncated_index_and_absent_gold_page_each_fail(evqa, tmp_path):
    root, data = evqa
    images = tmp_path / "images"
    shutil.copytree(data["images"], images)
    (images / "img00003.png").unlink()
    (images / "img00005.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    index = tmp_path / "index"
    shutil.copytree(root / "index", index)
    raw = (index / "knn.index").read_bytes()
    (index / "knn.index").write_bytes(raw[: len(raw) // 2])
    kb = json.loads((root / "kb.json").read_text())
    gold = json.loads(data["queries"].read_text())[0]["wikipedia_url"]
    del kb[gold]
    (tmp_path / "kb_without_gold.json").write_text(json.dumps(kb))
    code, rows = check("evqa", evqa_args(root, data, images=images, index=index, kb=tmp_path / "kb_without_gold.json"))
    assert code == 1
    assert rows["question errors"]["status"] == "fail" and "img00003" in rows["question errors"]["detail"]
    assert rows["images"]["status"] == "fail" and "img00005.png" in rows["images"]["detail"]
    assert rows["faiss index"]["status"] == "fail" and "truncated" in rows["faiss index"]["detail"]
    assert rows["gold pages"]["status"] == "fail" and gold in rows["gold pages"]["detail"]
    # an index whose key list is shorter than the index (an outdated knn.json)
    shutil.copy(root / "index" / "knn.index", index / "knn.index")
    keys = json.loads((index / "knn.json").read_text())
    (index / "knn.json").write_text(json.dumps(keys[:-5]))
    code, rows = check("evqa", evqa_args(root, data, index=index))
    assert code == 1 and "has 55 rows but knn.index 60" in rows["faiss index"]["detail"]


def test_the_run_preflight_runs_the_same_checks(evqa, tmp_path):
    root, data = evqa
    kb = json.loads((root / "kb.json").read_text())
    gold = json.loads(data["queries"].read_text())[0]["wikipedia_url"]
    del kb[gold]
    (tmp_path / "kb.json").write_text(json.dumps(kb))
    with pytest.raises(PreflightError) as err:
        evaluate(task="evqa", task_args=evqa_args(root, data, kb=tmp_path / "kb.json"), retriever="oracle-page",
                 critic="none", generator="tiny-qwen2.5-vl", output_dir=str(tmp_path / "runs"), no_leaderboard=True,
                 quiet=True)
    assert "gold pages" in str(err.value) and gold in str(err.value)
    assert not (tmp_path / "runs").exists()  # stopped before any stage


def test_synthetic_infoseek_ok_and_a_missing_qtype_file(tmp_path):
    mk = synth()
    mk.write_kb(tmp_path / "kb.json", 40, "infoseek")
    data = mk.write_infoseek_queries(tmp_path / "q", 6, 40)
    base = f"kb={tmp_path / 'kb.json'},queries={data['queries']},images={data['images']}"
    code, rows = check("infoseek", f"{base},qtypes={data['qtypes']}")
    assert code == 0, rows
    assert rows["question types"]["detail"].startswith("6 rows") and rows["gold pages"]["status"] == "ok"
    code, rows = check("infoseek", f"{base},qtypes={tmp_path / 'nope.jsonl'}")
    assert code == 1 and rows["question types"]["status"] == "fail"


def test_checksum_is_remembered_beside_the_file(tmp_path, monkeypatch):
    path = tmp_path / "encyclopedic_kb_wiki.json"
    path.write_text("{}")
    assert known_file_check("kb", str(path), deep=False).status == "skip"  # not hashed in a pre-flight
    row = known_file_check("kb", str(path), deep=True)
    assert row.status == "warn" and "differs from the published" in row.detail  # informs, never refuses (issue 20)
    memo = json.loads((tmp_path / "encyclopedic_kb_wiki.json.sha256.json").read_text())
    assert memo["size"] == 2 and memo["sha256"] == remembered_sha256(path, compute=False)
    monkeypatch.setitem(KNOWN_FILES, "encyclopedic_kb_wiki.json",
                        {"sha256": memo["sha256"], "source": "test"})
    assert known_file_check("kb", str(path), deep=False).status == "ok"  # the remembered hash is used
    path.write_text("{} ")  # changed size: the memo no longer applies
    assert remembered_sha256(path, compute=False) is None
