"""Shared fixtures. Tiny checkpoints are built once per test session under its tmp dir."""

from __future__ import annotations

import os

import pytest

# One thread per process: on a 2-core machine torch's thread pool oversubscribes (measured: up to
# 10x slower), and several tests start subprocesses. Results do not depend on the thread count.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def harness_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point REAG_HARNESS_CACHE at a session tmp dir (tiny models, indexes, stage records)."""
    root = tmp_path_factory.mktemp("reag_cache")
    old = os.environ.get("REAG_HARNESS_CACHE")
    os.environ["REAG_HARNESS_CACHE"] = str(root)
    os.environ["REAG_LEADERBOARD"] = str(root / "leaderboard.json")  # never the checked-in leaderboard
    os.environ.pop("REAG_DATA", None)  # never the user's downloaded data (a run naming no path would read it)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    yield root
    if old is None:
        os.environ.pop("REAG_HARNESS_CACHE", None)
    else:
        os.environ["REAG_HARNESS_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_path(harness_cache):
    """The tiny Qwen2.5-VL checkpoint folder, built once per session."""
    from reag_harness.models.tiny.qwen import tiny_qwen25vl_path

    return tiny_qwen25vl_path()


@pytest.fixture(scope="module")
def server():
    """The OpenAI-compatible test server (tests/chat_server.py), one process per test module."""
    from .chat_server import ServerProcess

    srv = ServerProcess()
    yield srv
    srv.close()


@pytest.fixture
def srv(server, monkeypatch):
    """The test server, reset, with the made-up API key in ``OPENAI_API_KEY``."""
    from .chat_server import KEY

    server.reset()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return server
