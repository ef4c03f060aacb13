"""A third-party plugin written against the flat layout (before issue 25's packages) still loads and runs.

Its imports are those the old docs/plugins.md and the built-ins used: ``reag_harness.errors``,
``.plugin_manager``, ``.kb.memory``, ``.models.batching``, ``.selection``, ``.reag_prompts``,
``.runner``. Each old path is the new module itself (same objects), with a DeprecationWarning.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

OLD_STYLE_PLUGIN = '''
from typing import Any, Sequence

from reag_harness.errors import HarnessError
from reag_harness.hookspecs import hookimpl
from reag_harness.interfaces import Component
from reag_harness.kb.memory import InMemoryKB
from reag_harness.models.batching import sorted_batches
from reag_harness.reag_prompts import CONTEXT_VQA_PROMPT
from reag_harness.records import ChatRequest, Sample
from reag_harness.selection import select


class FirstWords(Component):
    """Answers with the first word of the question (the old-layout names above are only checked)."""

    name = "old-layout-words"

    def generate(self, requests: Sequence[ChatRequest], **kwargs: Any) -> list[str]:
        assert callable(sorted_batches) and callable(select) and "{question}" in CONTEXT_VQA_PROMPT
        assert issubclass(HarnessError, Exception) and InMemoryKB is not None
        return ["Answer: " + str(r.messages[-1]["content"]).split()[0] for r in requests]


@hookimpl
def register_generators(register):
    register("old-layout-words", FirstWords)
'''

RUN = '''
import warnings
warnings.simplefilter("always")
import old_layout_plugin
from reag_harness.plugin_manager import register_plugin
from reag_harness.core.plugin_manager import register_plugin as new_register
from reag_harness.errors import HarnessError
from reag_harness.core.errors import HarnessError as NewHarnessError
from reag_harness.runner import Pipeline
from reag_harness.pipeline.runner import Pipeline as NewPipeline
assert register_plugin is new_register and HarnessError is NewHarnessError and Pipeline is NewPipeline
register_plugin(old_layout_plugin, "old-layout")
from reag_harness.api import evaluate
res = evaluate(task="demo", retriever="none", critic="none", generator="old-layout-words", prompt_style="direct",
               limit=2, quiet=True, no_leaderboard=True, output_dir={out!r}, cache_dir={cache!r})
print("RESULT", res.n, res.components["generator"].name)
'''


def test_a_plugin_written_against_the_flat_layout_loads_and_runs(tmp_path: Path) -> None:
    (tmp_path / "old_layout_plugin.py").write_text(OLD_STYLE_PLUGIN)
    code = textwrap.dedent(RUN).format(out=str(tmp_path / "runs"), cache=str(tmp_path / "stages"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RESULT 2 old-layout-words" in proc.stdout
    for old, new in [("reag_harness.errors", "reag_harness.core.errors"), ("reag_harness.kb", "reag_harness.data.kb"),
                     ("reag_harness.runner", "reag_harness.pipeline.runner")]:
        assert f"{old} moved to {new}" in proc.stderr  # told, not silent
