"""``reag-eval data get`` against a real HTTP server process on 127.0.0.1 (tests/data_server.py), with a
test manifest over synthetic files in the published formats (EVQA test.csv, a zipped KB JSON, zipped images)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.kbdata import synth

ROOT = Path(__file__).resolve().parent.parent


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Server:
    """tests/data_server.py as a subprocess; ``requests()`` reads its request log."""

    def __init__(self, root: Path, log: Path, drops: tuple[str, ...] = ()) -> None:
        self.log = log
        cmd = [sys.executable, str(ROOT / "tests" / "data_server.py"), str(root), str(log)]
        for d in drops:
            cmd += ["--drop", d]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}/"

    def requests(self) -> list[dict]:
        return [json.loads(x) for x in self.log.read_text().splitlines()] if self.log.exists() else []

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def entry(server: Server, path: Path, role: str, published: bool = True, **extra) -> dict:
    return {"name": path.name, "role": role, "url": server.url + path.name, "size": path.stat().st_size,
            "sha256": sha(path) if published else None, **extra}


def write_manifest(path: Path, files: list[dict], task: str = "evqa") -> Path:
    path.write_text(json.dumps({"task": task, "files": files}))
    return path


def cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reag_harness.cli", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The synthetic 'published' files: test.csv, a zipped KB JSON (stored, so it has some size), zipped images."""
    root = tmp_path_factory.mktemp("published")
    mk = synth()
    src = root / "src"
    data = mk.write_evqa_queries(src / "q", 8, 40, fmt="csv")
    kb_json = mk.write_kb(src / "synthetic_kb_wiki.json", 40, "evqa")  # not the published name: its checksum is known
    srv = root / "srv"
    srv.mkdir()
    (srv / "test.csv").write_bytes(data["queries"].read_bytes())
    with zipfile.ZipFile(srv / "encyclopedic_kb_wiki.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.write(kb_json, kb_json.name)
    with zipfile.ZipFile(srv / "evqa_images.zip", "w") as zf:
        for p in sorted(data["images"].iterdir()):
            zf.write(p, f"images/{p.name}")
    (root / "kb.sha256").write_text(sha(kb_json))
    return srv


@pytest.fixture(scope="module")
def fetched(published, tmp_path_factory):
    """One `data get evqa` whose KB archive download is dropped half way; the server stays up."""
    work = tmp_path_factory.mktemp("fetched")
    kb_zip = published / "encyclopedic_kb_wiki.zip"
    server = Server(published, work / "requests.jsonl", drops=(f"{kb_zip.name}:{kb_zip.stat().st_size // 2}",))
    manifest = write_manifest(work / "manifest.json", [
        entry(server, published / "test.csv", "queries", published=False),
        entry(server, kb_zip, "kb", unpack="zip", member="synthetic_kb_wiki.json",
              member_sha256=(published.parent / "kb.sha256").read_text()),
        entry(server, published / "evqa_images.zip", "images", unpack="zip"),
    ])
    dest = work / "data"
    first = cli("data", "get", "evqa", "--manifest", str(manifest), "--dest", str(dest))
    yield {"server": server, "manifest": manifest, "dest": dest, "first": first, "work": work,
           "kb_zip": kb_zip, "n_first": len(server.requests())}
    server.stop()


def test_a_dropped_archive_download_resumes_with_range_and_ends_verified(fetched):
    first = fetched["first"]
    assert first.returncode == 0, first.stderr
    kb_requests = [r for r in fetched["server"].requests() if r["path"] == "/" + fetched["kb_zip"].name]
    half = fetched["kb_zip"].stat().st_size // 2
    assert kb_requests[0]["range"] is None
    assert kb_requests[1]["range"] == f"bytes={half}-"  # only the missing bytes are asked for
    assert "resuming at" in first.stderr
    folder = fetched["dest"] / "evqa"
    lock = json.loads((folder / "manifest.lock.json").read_text())["files"]
    assert lock[fetched["kb_zip"].name]["sha256"] == sha(fetched["kb_zip"])
    # no published checksum: the first download's is locked
    assert lock["test.csv"]["published"] is False and len(lock["test.csv"]["sha256"]) == 64
    assert lock[fetched["kb_zip"].name]["member_sha256"] == (fetched["kb_zip"].parent.parent / "kb.sha256").read_text()
    assert not list(folder.glob("*.part"))
    import yaml

    args = yaml.safe_load((folder / "task.yaml").read_text())
    assert args == {"queries": "test.csv", "kb": "kb_store", "images": "evqa_images/images"}
    assert (folder / "kb_store" / "meta.json").is_file()
    assert len(list((folder / "evqa_images" / "images").iterdir())) == 8


def test_a_second_get_makes_no_request(fetched):
    again = cli("data", "get", "evqa", "--manifest", str(fetched["manifest"]), "--dest", str(fetched["dest"]))
    assert again.returncode == 0, again.stderr
    assert len(fetched["server"].requests()) == fetched["n_first"]
    assert "3 of 3 files in place, 0 to download" in again.stdout
    dry = cli("data", "get", "evqa", "--manifest", str(fetched["manifest"]), "--dest", str(fetched["dest"]),
              "--dry-run")
    assert dry.returncode == 0 and "verified" in dry.stdout and "still needed" in dry.stdout


def test_a_run_naming_no_path_reads_the_downloaded_task_yaml(fetched, tmp_path):
    exe = Path(sys.executable).parent / "reag-eval"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "reag_harness.cli"]
    run = subprocess.run([*cmd, "--task", "evqa", "--retriever", "oracle-page", "--critic", "none", "--generator",
                          "tiny-qwen2.5-vl", "--task-args", "no_bem=true", "--limit", "4"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path,
                         env={**os.environ, "REAG_DATA": str(fetched["dest"])})
    assert run.returncode == 0, run.stderr
    results = json.loads(next((tmp_path / "runs").glob("*/results.json")).read_text())
    assert results["n"] == 4 and results["errors"]["count"] == 0
    assert results["retrieval_quality"]["recall@1"] == 100.0  # the oracle found the gold pages in the built KB
    # the run says where its data came from: the task.yaml that data get wrote
    assert results["components"]["task"]["args"]["config"].endswith("task.yaml")


def test_explicit_task_args_opt_out_of_the_downloaded_paths(fetched, monkeypatch):
    from tasks.evqa.task import EvqaTask

    monkeypatch.setenv("REAG_DATA", str(fetched["dest"]))
    default = EvqaTask(no_bem=True)
    assert default.args["kb"] == str(fetched["dest"] / "evqa" / "kb_store")
    named = EvqaTask(queries="/elsewhere/test.csv", no_bem=True)
    assert named.args["queries"] == "/elsewhere/test.csv" and "kb" not in named.args


def test_a_wrong_checksum_exits_non_zero_naming_the_file_and_keeps_nothing(published, tmp_path):
    server = Server(published, tmp_path / "requests.jsonl")
    try:
        bad = entry(server, published / "test.csv", "queries")
        bad["sha256"] = "0" * 64
        manifest = write_manifest(tmp_path / "m.json", [bad])
        out = cli("data", "get", "evqa", "--manifest", str(manifest), "--dest", str(tmp_path / "d"))
    finally:
        server.stop()
    assert out.returncode != 0
    assert "test.csv" in out.stderr and "0" * 64 in out.stderr and sha(published / "test.csv") in out.stderr
    assert "Traceback" not in out.stderr
    folder = tmp_path / "d" / "evqa"
    assert not (folder / "test.csv").exists() and not (folder / "test.csv.part").exists()
    assert not (folder / "task.yaml").exists()


def test_a_later_download_differing_from_the_locked_first_one_is_an_error(published, tmp_path):
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "test.csv").write_bytes((published / "test.csv").read_bytes())
    server = Server(srv, tmp_path / "requests.jsonl")
    try:
        manifest = write_manifest(tmp_path / "m.json", [entry(server, srv / "test.csv", "queries", published=False)])
        dest = tmp_path / "d"
        assert cli("data", "get", "evqa", "--manifest", str(manifest), "--dest", str(dest)).returncode == 0
        (dest / "evqa" / "test.csv").unlink()
        (srv / "test.csv").write_bytes((published / "test.csv").read_bytes().replace(b"synthetic", b"Synthetic"))
        out = cli("data", "get", "evqa", "--manifest", str(manifest), "--dest", str(dest))
    finally:
        server.stop()
    assert out.returncode != 0 and "test.csv" in out.stderr and "first download" in out.stderr
    assert not (dest / "evqa" / "test.csv").exists()


def test_a_zip_slip_member_is_refused(tmp_path):
    srv = tmp_path / "srv"
    srv.mkdir()
    with zipfile.ZipFile(srv / "evil.zip", "w") as zf:
        zf.writestr("images/ok.png", b"x")
        zf.writestr("../../escaped.txt", b"pwned")
    server = Server(srv, tmp_path / "requests.jsonl")
    try:
        manifest = write_manifest(tmp_path / "m.json", [entry(server, srv / "evil.zip", "images", unpack="zip")])
        out = cli("data", "get", "evqa", "--manifest", str(manifest), "--dest", str(tmp_path / "d"))
    finally:
        server.stop()
    assert out.returncode != 0 and "zip-slip" in out.stderr and "../../escaped.txt" in out.stderr
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "d" / "escaped.txt").exists()
    folder = tmp_path / "d" / "evqa"
    assert not (folder / "evil").exists() and not list(folder.glob(".evil.unpacking-*"))


@pytest.mark.parametrize("link", ["/etc/passwd", "../../outside"])
def test_a_tar_link_out_of_the_folder_is_refused(tmp_path, link):
    from reag_harness.data.get.unpack import UnsafeArchiveError, unpack

    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("data/link")
        info.type, info.linkname = tarfile.SYMTYPE, link
        tf.addfile(info)
    with pytest.raises(UnsafeArchiveError, match="points outside|leaves the unpack folder"):
        unpack(archive, "tar", tmp_path / "a", "0" * 64)
    assert not (tmp_path / "a").exists()


def test_too_little_disk_space_is_reported_before_any_download(published, tmp_path):
    server = Server(published, tmp_path / "requests.jsonl")
    try:
        manifest = write_manifest(tmp_path / "m.json", [
            entry(server, published / "test.csv", "queries"),
            entry(server, published / "encyclopedic_kb_wiki.zip", "kb", unpack="zip",
                  member="synthetic_kb_wiki.json")])
        out = cli("data", "get", "evqa", "--manifest", str(manifest), "--dest", str(tmp_path / "d"),
                  env={"REAG_DATA_FREE_BYTES": "1000"})
    finally:
        server.stop()
    assert out.returncode != 0
    assert "not enough disk space" in out.stderr and "encyclopedic_kb_wiki.zip" in out.stderr
    assert server.requests() == []
    assert not (tmp_path / "d" / "evqa" / "test.csv").exists()


def test_a_partial_file_left_by_a_killed_get_is_resumed_and_remove_archives_keeps_the_unpack(published, tmp_path):
    server = Server(published, tmp_path / "requests.jsonl")
    images = published / "evqa_images.zip"
    try:
        manifest = write_manifest(tmp_path / "m.json", [entry(server, images, "images", unpack="zip")])
        folder = tmp_path / "d" / "evqa"
        folder.mkdir(parents=True)
        kept = images.stat().st_size // 3
        (folder / (images.name + ".part")).write_bytes(images.read_bytes()[:kept])  # what a killed get leaves
        out = cli("data", "get", "evqa", "--manifest", str(manifest), "--dest", str(tmp_path / "d"),
                  "--remove-archives")
        assert out.returncode == 0, out.stderr
        assert [r["range"] for r in server.requests()] == [f"bytes={kept}-"]
        assert not (folder / images.name).exists() and (folder / "evqa_images" / "images").is_dir()
        again = cli("data", "get", "evqa", "--manifest", str(manifest), "--dest", str(tmp_path / "d"))
        assert again.returncode == 0 and len(server.requests()) == 1  # the verified unpack stands for the archive
    finally:
        server.stop()


def test_only_models_goes_through_huggingface_hub_honouring_hf_endpoint_and_the_cache(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "config.json").write_text('{"model_type": "tiny"}')
    (repo / "model.safetensors").write_bytes(b"\0" * 4096)
    server = Server(repo, tmp_path / "requests.jsonl")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=server.url.rstrip("/"), HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_DISABLE_TELEMETRY="1")
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"task": "evqa", "files": [], "models": [{"repo_id": "org/tiny-model"}]}))
    args = [sys.executable, "-m", "reag_harness.cli", "data", "get", "evqa", "--manifest", str(manifest), "--dest",
            str(tmp_path / "d"), "--only", "models"]
    try:
        first = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
        assert first.returncode == 0, first.stderr
        snapshot = tmp_path / "hub" / "models--org--tiny-model" / "snapshots"
        assert (next(snapshot.iterdir()) / "model.safetensors").stat().st_size == 4096
        assert any("/org/tiny-model/resolve/" in r["path"] for r in server.requests())
        n = len(server.requests())
        again = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
        assert again.returncode == 0 and "in the hub cache" in again.stdout
        assert len(server.requests()) == n  # found in the hub cache: no request
    finally:
        server.stop()


def test_mirrors_are_tried_in_order(published, tmp_path):
    server = Server(published, tmp_path / "requests.jsonl")
    try:
        e = entry(server, published / "test.csv", "queries")
        e["urls"] = [server.url + "gone/test.csv", e.pop("url")]
        out = cli("data", "get", "evqa", "--manifest", str(write_manifest(tmp_path / "m.json", [e])), "--dest",
                  str(tmp_path / "d"))
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    assert [r["path"] for r in server.requests()] == ["/gone/test.csv", "/test.csv"]  # a 404 is not retried
    assert (tmp_path / "d" / "evqa" / "test.csv").read_bytes() == (published / "test.csv").read_bytes()
