"""Old module paths (before the package restructure) kept importable, with a DeprecationWarning.

``reag_harness.core.errors`` is ``reag_harness.core.errors``, the same module object, so a plugin written
against the flat layout still loads and its ``isinstance`` checks still hold. Installed once by
``reag_harness/__init__.py``; nothing is imported until an old path is asked for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: old dotted path -> new dotted path (a package maps its submodules too: longest prefix wins); the cut of
#: tools/move_mapping.txt. Old paths that are packages now (results, leaderboard, cli) are not listed:
#: ``reag_harness.results`` and ``reag_harness.cli`` re-export what was imported from them.
MOVED: dict[str, str] = {
    "reag_harness.errors": "reag_harness.core.errors",
    "reag_harness.config": "reag_harness.core.config",
    "reag_harness.registry": "reag_harness.core.registry",
    "reag_harness.plugin_manager": "reag_harness.core.plugin_manager",
    "reag_harness.atomic": "reag_harness.core.atomic",
    "reag_harness.jsonio": "reag_harness.core.jsonio",
    "reag_harness.paths": "reag_harness.core.paths",
    "reag_harness.digests": "reag_harness.core.digests",
    "reag_harness.versions": "reag_harness.core.versions",
    "reag_harness.terminal": "reag_harness.core.terminal",
    "reag_harness.progress": "reag_harness.core.progress",
    "reag_harness.quiet": "reag_harness.core.quiet",
    "reag_harness.preflight": "reag_harness.core.preflight",
    "reag_harness.selection": "reag_harness.core.selection",
    "reag_harness.row_checks": "reag_harness.core.row_checks",
    "reag_harness.reag_prompts": "reag_harness.prompts.reag",
    "reag_harness.reflectiva_prompts": "reag_harness.prompts.reflectiva",
    "reag_harness.prompt_budget": "reag_harness.prompts.budget",
    "reag_harness.data_get.command": "reag_harness.cli.commands.data_get",
    "reag_harness.data_get": "reag_harness.data.get",
    "reag_harness.kb_build": "reag_harness.data.kb_build",
    "reag_harness.kb.taskbase": "reag_harness.data.taskbase",
    "reag_harness.kb": "reag_harness.data.kb",
    "reag_harness.retrieval": "reag_harness.data.retrieval",
    "reag_harness.index_build": "reag_harness.data.index_build",
    "reag_harness.hf_datasets": "reag_harness.data.hf_datasets",
    "reag_harness.data_check": "reag_harness.data.check",
    "reag_harness.input_checks": "reag_harness.data.input_checks",
    "reag_harness.crop": "reag_harness.models.crop",
    "reag_harness.models.tiny_bem": "reag_harness.models.tiny.bem",
    "reag_harness.models.tiny_blip2_reranker": "reag_harness.models.tiny.blip2_reranker",
    "reag_harness.models.tiny_chat_templates": "reag_harness.models.tiny.chat_templates",
    "reag_harness.models.tiny_clip": "reag_harness.models.tiny.clip",
    "reag_harness.models.tiny_cross_encoder": "reag_harness.models.tiny.cross_encoder",
    "reag_harness.models.tiny_eva_clip_8b": "reag_harness.models.tiny.eva_clip_8b",
    "reag_harness.models.tiny_grounding_dino": "reag_harness.models.tiny.grounding_dino",
    "reag_harness.models.tiny_hf_clip": "reag_harness.models.tiny.hf_clip",
    "reag_harness.models.tiny_pictures": "reag_harness.models.tiny.pictures",
    "reag_harness.models.tiny_qwen": "reag_harness.models.tiny.qwen",
    "reag_harness.models.tiny_reflectiva_calibration": "reag_harness.models.tiny.reflectiva_calibration",
    "reag_harness.models.tiny_reflectiva": "reag_harness.models.tiny.reflectiva",
    "reag_harness.models.tiny_vlm_builders": "reag_harness.models.tiny.vlm_builders",
    "reag_harness.models.tiny_vlm_parts": "reag_harness.models.tiny.vlm_parts",
    "reag_harness.models.tiny_vlms": "reag_harness.models.tiny.vlms",
    "reag_harness.models.sized_qwen": "reag_harness.models.tiny.sized_qwen",
    "reag_harness.models.evaclip_remote_fixture": "reag_harness.models.tiny.evaclip_remote_fixture",
    "reag_harness.runner": "reag_harness.pipeline.runner",
    "reag_harness.store_index": "reag_harness.pipeline.store_index",
    "reag_harness.store": "reag_harness.pipeline.store",
    "reag_harness.sample_rows": "reag_harness.pipeline.sample_rows",
    "reag_harness.retrieval_gate": "reag_harness.pipeline.retrieval_gate",
    "reag_harness.decoding": "reag_harness.pipeline.decoding",
    "reag_harness.results_files": "reag_harness.results.files",
    "reag_harness.run_files": "reag_harness.results.run_files",
    "reag_harness.run_identity": "reag_harness.results.run_identity",
    "reag_harness.scoring_ids": "reag_harness.results.scoring_ids",
    "reag_harness.scoring_inputs": "reag_harness.results.scoring_inputs",
    "reag_harness.scoring": "reag_harness.results.scoring",
    "reag_harness.compare": "reag_harness.results.compare",
    "reag_harness.report": "reag_harness.results.report",
    "reag_harness.viewer": "reag_harness.results.viewer",
    "reag_harness.merge_stream": "reag_harness.results.merge_stream",
    "reag_harness.shard_merge": "reag_harness.results.shard_merge",
    "reag_harness.retrieval_quality": "reag_harness.results.retrieval_quality",
    "reag_harness.submission": "reag_harness.results.submission",
    "reag_harness.tracking": "reag_harness.results.tracking",
    "reag_harness.links": "reag_harness.results.links",
    "reag_harness.pages": "reag_harness.results.pages",
    "reag_harness.leaderboard_entries": "reag_harness.leaderboard.entries",
    "reag_harness.leaderboard_schema": "reag_harness.leaderboard.schema",
    "reag_harness.leaderboard_settings": "reag_harness.leaderboard.settings",
    "reag_harness.leaderboard_view": "reag_harness.leaderboard.view",
    "reag_harness.intervals": "reag_harness.leaderboard.intervals",
    "reag_harness.commands": "reag_harness.cli.commands",
    "reag_harness.multitask": "reag_harness.cli.multitask",
    "reag_harness.zero_cost": "reag_harness.plugins.zero_cost",
}


def new_name(old: str) -> str | None:
    """The new path of an old module path, or None when it did not move."""
    parts = old.split(".")
    for n in range(len(parts), 1, -1):
        head = ".".join(parts[:n])
        if head in MOVED:
            return ".".join([MOVED[head], *parts[n:]])
    return None


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        warnings.warn(f"{spec.name} moved to {self.target}; the old path will be removed in a later release",
                      DeprecationWarning, stacklevel=4)
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module has run."""


class MovedModules(importlib.abc.MetaPathFinder):
    """Finds an old module path and hands back the module at its new path."""

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("reag_harness."):
            return None
        new = new_name(fullname)
        if new is None or new == fullname:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put the finder first on ``sys.meta_path``, once: ``reag_harness.kb.memory`` must be the module
    ``reag_harness.data.kb.memory``, not a second copy found through the aliased package's folder. Only
    names in :data:`MOVED` are answered; no old path is a module of the new layout."""
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModules())
