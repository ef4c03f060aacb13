"""Start real OpenAI-compatible servers (not written here) on 127.0.0.1 for the tests.

* :func:`transformers_serve`: ``transformers serve`` (transformers >= 5) pinned to a local checkpoint.
* :func:`llama_cpp_server`: ``python -m llama_cpp.server`` on a GGUF file (llama-cpp-python).

Each yields the base URL (``http://127.0.0.1:PORT/v1``) and kills the process afterwards; its log
goes to a file beside the test's temporary folder, quoted when the server does not come up.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT_S = 240.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(cmd: list[str], port: int, log: Path, ready_path: str) -> Iterator[str]:
    import httpx

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not up after {START_TIMEOUT_S:g}s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.kill()
        proc.wait(timeout=30)


@contextlib.contextmanager
def transformers_serve(checkpoint: Path, log: Path) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(checkpoint), "--host", "127.0.0.1",
           "--port", str(port), "--device", "cpu", "--log-level", "warning"]
    with _serve(cmd, port, log, "/health") as url:
        yield url


@contextlib.contextmanager
def llama_cpp_server(gguf: Path, log: Path) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", "2048", "--n_threads", "1", "--model_alias", "tiny-llama"]
    with _serve(cmd, port, log, "/v1/models") as url:
        yield url
