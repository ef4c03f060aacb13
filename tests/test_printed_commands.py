"""Every run command that README.md, docs/presets.md and ``reag-eval ls presets`` print reaches its first stage.

Each printed command is parsed by the CLI's own parser; then only what this machine cannot have is
substituted: the real checkpoints by tiny ones of the same family (``pretrained=``), the data paths by
synthetic data in the published formats, EVA-CLIP-8B by a tiny checkpoint of its architecture in the hub
layout with a FAISS index, GroundingDINO by ``tiny-grounding-dino``, BEM by ``no_bem``, the API key by a
dummy. Everything else (the preset's own arguments, such as ``top_k``) is as printed. The run goes
through construction, component resolution, question loading and the whole pre-flight; it must stop only at
the first stage (retrieval), which the test intercepts. A command that stops earlier, for any reason, fails
the test.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reag_harness.cli.app import build_parser, main
from reag_harness.cli.commands.run import config_from_args
from reag_harness.core.errors import HarnessError
from reag_harness.core.plugin_manager import get_registry
from reag_harness.data.retrieval.faiss_index import build_index
from reag_harness.interfaces import Runtime
from reag_harness.models.clip_loader import encoder_dim
from reag_harness.models.tiny.eva_clip_8b import tiny_eva_clip_8b_path
from reag_harness.pipeline.components import resolve_components
from reag_harness.pipeline.stage_retrieve import RetrieveStage
from tests.kbdata import synth

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/presets.md")
QWEN_25 = "tiny:qwen2.5-vl"
#: The real checkpoint -> its tiny stand-in of the same family (a new preset's model needs a line here).
TINY_FOR = {
    "aimagelab/ReAG-3B": QWEN_25, "aimagelab/ReAG-7B": QWEN_25, "aimagelab/ReAG-Critic": QWEN_25,
    "Qwen/Qwen2.5-VL-3B-Instruct": QWEN_25, "Qwen/Qwen2.5-VL-7B-Instruct": QWEN_25,
    "/models/ReAG-3B": QWEN_25, "/models/ReAG-Critic": QWEN_25,
    "llava-hf/llava-1.5-7b-hf": "tiny:llava", "/models/llava-1.5-7b-hf": "tiny:llava",
    "Salesforce/blip2-flan-t5-xl": "tiny:blip-2", "Qwen/Qwen2-VL-7B-Instruct": "tiny:qwen2-vl",
    "OpenGVLab/InternVL3-8B-hf": "tiny:internvl", "meta-llama/Llama-3.1-8B-Instruct": "tiny:llama",
    "aimagelab/ReflectiVA": "tiny:reflectiva", "Salesforce/blip2-itm-vit-g": "tiny:blip2-reranker",
}
EVQA_ONLY = ("google-lens",)


class FirstStage(BaseException):
    """Raised where the first stage would start (BaseException: nothing on the way catches it)."""


# ---- the printed commands ------------------------------------------------------------------------------
def _shell_lines(block: str) -> list[str]:
    """A bash block's command lines: continuations joined, ``for p in A B; do ... $p ...; done`` unrolled."""
    joined = re.sub(r"\\\n\s*", " ", block).splitlines()
    out: list[str] = []
    i = 0
    while i < len(joined):
        line = joined[i].strip()
        loop = re.match(r"for (\w+) in (.+?); do$", line)
        if loop:
            var, values = loop.group(1), loop.group(2).split()
            body = []
            i += 1
            while i < len(joined) and joined[i].strip() != "done":
                body.append(joined[i].strip())
                i += 1
            out += [b.replace(f"${var}", v) for v in values for b in body]
        else:
            out.append(line)
        i += 1
    return out


def _run_argv(line: str) -> list[str] | None:
    """The arguments of a printed run command (``reag-eval --...``), None for other lines."""
    tokens = shlex.split(line, comments=True)
    if len(tokens) < 2 or tokens[0] != "reag-eval" or not tokens[1].startswith("--"):
        return None
    return tokens[1:]


def printed_commands() -> list[tuple[str, list[str]]]:
    """``(where, argv)`` of every run command printed by the two documents and by ``reag-eval ls presets``."""
    found: list[tuple[str, list[str]]] = []
    for doc in DOCS:
        for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", (ROOT / doc).read_text(encoding="utf-8"), re.S):
            for line in _shell_lines(block):
                argv = _run_argv(line)
                if argv is not None:
                    found.append((f"{doc}: {line}", argv))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["ls", "presets"]) == 0
    for line in out.getvalue().splitlines():
        m = re.match(r"\s+(reag-eval --task TASK --preset \S+)\s+\(= (.*)\)\s*$", line)
        if m:
            found.append((f"ls presets: {m.group(1)}", shlex.split(m.group(1))[1:]))
            found.append((f"ls presets: (= {m.group(2)})", ["--task", "TASK", *shlex.split(m.group(2))]))
    return found


COMMANDS = printed_commands()


def test_the_printed_commands_are_found() -> None:
    where = [w for w, _ in COMMANDS]
    assert any(w.startswith("README.md: reag-eval --task infoseek --generator reag-7b") for w in where)
    assert any("docs/presets.md" in w and "--preset ablation-3b-coarse-critic-crop" in w for w in where)
    from plugins.presets import PRESETS

    listed = [w for w in where if w.startswith("ls presets: reag-eval")]
    assert len(listed) == len(PRESETS)  # every preset, once


# ---- the substitution ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, Any]:
    """Synthetic InfoSeek and EVQA data, a tiny EVA-CLIP-8B-architecture checkpoint and its FAISS index."""
    root = tmp_path_factory.mktemp("printed")
    mk = synth()
    mk.write_kb(root / "infoseek_kb.json", 12, "infoseek")
    infoseek = mk.write_infoseek_queries(root / "infoseek", 3, 12)
    mk.write_kb(root / "evqa_kb.json", 12, "evqa")
    evqa = mk.write_evqa_queries(root / "evqa", 3, 12)
    eva = tiny_eva_clip_8b_path()  # EVA-CLIP-8B's architecture in the hub layout, run by the native encoder
    dim = encoder_dim("native", "BAAI/EVA-CLIP-8B", str(eva))
    indexes = {}
    for task in ("infoseek", "evqa"):
        keys = list(json.loads((root / f"{task}_kb.json").read_text()))
        vectors = np.random.default_rng(0).standard_normal((len(keys), dim)).astype(np.float32)
        build_index(vectors, keys, root / f"{task}_index")
        indexes[task] = str(root / f"{task}_index")
    task_args = {
        "infoseek": {"kb": str(root / "infoseek_kb.json"), "queries": str(infoseek["queries"]),
                     "images": str(infoseek["images"]), "qtypes": str(infoseek["qtypes"])},
        "evqa": {"kb": str(root / "evqa_kb.json"), "queries": str(evqa["queries"]), "images": str(evqa["images"]),
                 "lens": str(evqa["lens"]), "no_bem": "true"},
    }
    return {"task_args": task_args, "eva": str(eva), "index": indexes}


def default_pretrained(kind: str, name: str) -> str | None:
    """The checkpoint a registered component loads when ``pretrained`` is not given."""
    factory = get_registry().get(kind, name).load()
    try:
        param = inspect.signature(factory).parameters.get("pretrained")
    except (TypeError, ValueError):
        return None
    return param.default if param is not None and isinstance(param.default, str) else None


def substituted(argv: list[str], stand_ins: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """The run configuration of ``argv`` with only the unavailable things swapped for stand-ins, and the
    components it resolves to."""
    args = build_parser().parse_args(["run", *argv])
    cfg = config_from_args(args)
    if cfg.task == "TASK":
        cfg.task = "evqa" if (cfg.retriever or "") in EVQA_ONLY or any(
            f"-{r}" in (cfg.preset or "") for r in EVQA_ONLY) else "infoseek"
    if cfg.task in stand_ins["task_args"]:
        cfg.task_args = dict(stand_ins["task_args"][cfg.task])  # the data paths (printed as placeholders)
    task = get_registry().create("task", cfg.task, Runtime(), dict(cfg.task_args))
    resolved = resolve_components(cfg, task)
    for kind, chosen in resolved.items():
        own = getattr(cfg, f"{kind}_args")
        if kind in ("generator", "critic") and chosen.name not in ("none", "openai", "openai-critic") \
                and not chosen.name.startswith("tiny"):
            key = chosen.args.get("pretrained") or default_pretrained(kind, chosen.name)
            if str(key).startswith("tiny:"):
                continue  # a stand-in already (the demo task's own, offline)
            if key is not None or kind != "critic":  # None: a critic judging with the generator's checkpoint
                assert key in TINY_FOR, f"no tiny stand-in for {kind} {chosen.name} pretrained={key!r}"
                own["pretrained"] = TINY_FOR[key]
        if kind == "retriever" and chosen.name == "eva-clip":
            own.update(pretrained=stand_ins["eva"], index=stand_ins["index"][cfg.task])
            if chosen.args.get("crop"):
                own["crop_args"] = {**(chosen.args.get("crop_args") or {}), "detector": "tiny-grounding-dino"}
        if kind == "retriever" and chosen.name == "chain":
            from reag_harness.models.tiny.clip import TINY_MODEL, tiny_clip_checkpoint

            own.update({"pages.model": TINY_MODEL, "pages.pretrained": str(tiny_clip_checkpoint()),
                        "passages.model": "sentence-transformers/all-MiniLM-L6-v2"})
    return cfg, {kind: chosen.name for kind, chosen in resolved.items()}


@pytest.mark.parametrize("where,argv", COMMANDS, ids=[w[:100] for w, _ in COMMANDS])
def test_printed_command_reaches_its_first_stage(where: str, argv: list[str], stand_ins: dict[str, Any],
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    from reag_harness.api import evaluate

    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy-never-sent")  # the key stand-in: nothing is sent
    cfg, names = substituted(argv, stand_ins)
    cfg.output_dir, cfg.cache_dir, cfg.no_leaderboard, cfg.quiet = str(tmp_path / "runs"), str(tmp_path), True, False

    def first_stage(self, *args, **kwargs):
        raise FirstStage

    monkeypatch.setattr(RetrieveStage, "run", first_stage)
    try:
        evaluate(cfg)
    except FirstStage:
        pass
    except HarnessError as exc:
        pytest.fail(f"{where}\nstopped before its first stage:\n{exc}")
    else:
        pytest.fail(f"{where}: the run never reached a stage")
    err = capfd.readouterr().err
    remote = [line for line in err.splitlines() if "trust_remote_code=true" in line]
    assert not remote, err  # EVA-CLIP-8B runs natively: no printed command runs a checkpoint's own code
