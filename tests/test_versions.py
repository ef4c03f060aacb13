"""The recorded harness version and commit, and where error messages send the user."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reag_harness.core import versions
from reag_harness.core.errors import HarnessError
from reag_harness.interfaces import Runtime
from reag_harness.tasks.evqa.task import EvqaTask

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_commit_of_the_harness_own_checkout() -> None:
    versions.git_hash.cache_clear()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert versions.git_hash().split("-")[0] == head


def test_commit_from_direct_url_of_a_vcs_install(monkeypatch: pytest.MonkeyPatch) -> None:
    class Dist:
        def read_text(self, name):
            return json.dumps({"url": "https://example.org/reag-harness.git",
                               "vcs_info": {"vcs": "git", "commit_id": "0123abcd"}})

    monkeypatch.setattr(versions.importlib.metadata, "distribution", lambda name: Dist())
    monkeypatch.setattr(versions, "_checkout_commit", lambda: None)
    versions.git_hash.cache_clear()
    try:
        assert versions.git_hash() == "0123abcd"
    finally:
        versions.git_hash.cache_clear()


def test_error_messages_name_the_project_url_not_a_local_docs_path(monkeypatch: pytest.MonkeyPatch) -> None:
    class Meta:
        def get_all(self, key):
            return ["Documentation, https://docs.example.org/reag-harness/"] if key == "Project-URL" else []

    monkeypatch.setattr(versions.importlib.metadata, "metadata", lambda name: Meta())
    assert versions.project_url("data.md") == "https://docs.example.org/reag-harness/data.md"
    with pytest.raises(HarnessError, match=r"see https://docs.example.org/reag-harness/data.md"):
        EvqaTask(Runtime()).knowledge_base()
