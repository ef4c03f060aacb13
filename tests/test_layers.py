"""The import-linter contracts of pyproject.toml hold (issue 25): one-way layers, plugins and tasks on the
library only, no import cycles. Run the same way as ``make lint`` (tools/lint_imports.py sees plugins/ and
tasks/ under their mapped names)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_the_layer_contracts_hold() -> None:
    pytest.importorskip("importlinter")
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "lint_imports.py"), "--no-logo", "--no-cache"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.stdout.count("KEPT") == 2 and "BROKEN" not in proc.stdout
    files = int(proc.stdout.split("Analyzed ")[1].split(" files")[0])
    assert files > len(list((REPO / "reag_harness").rglob("*.py")))  # plugins/ and tasks/ were in the graph


def test_plain_lint_imports_passes_too() -> None:
    """``lint-imports`` as installed, on pyproject's contracts: reag_harness/ alone (plugins/tasks optional)."""
    pytest.importorskip("importlinter")
    proc = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.argv = ['lint-imports', '--no-logo', '--no-cache']; sys.exit(lint_imports_command())"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.stdout.count("KEPT") == 2


def test_the_package_has_at_most_16_entries_and_no_module_over_400_lines() -> None:
    entries = [p.name for p in (REPO / "reag_harness").iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 16, sorted(entries)
    long = {str(p.relative_to(REPO)): n for base in ("reag_harness", "plugins", "tasks")
            for p in (REPO / base).rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
