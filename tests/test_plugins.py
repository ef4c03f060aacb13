"""The plugin system: every hook works and has a test here; broken plugins are not fatal."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from reag_harness import hookspecs
from reag_harness.errors import DuplicateComponentError
from reag_harness.hookspecs import hookimpl
from reag_harness.plugin_manager import get_registry, plugin_infos, register_plugin, unregister_plugin

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
KIND_OF = {"register_tasks": "task", "register_retrievers": "retriever", "register_critics": "critic",
           "register_generators": "generator", "register_prompt_styles": "prompt_style",
           "register_presets": "preset"}


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reag_harness.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


@pytest.fixture
def inline_plugin():
    """Register a plugin object in-process for one test, as an installed one would be."""
    names = []

    def add(name: str, **hooks):
        register_plugin(SimpleNamespace(**{k: hookimpl(v) for k, v in hooks.items()}), name)
        names.append(name)

    yield add
    for name in names:
        unregister_plugin(name)


def check_hook(inline_plugin, hook: str, factory=lambda runtime, **args: SimpleNamespace(name="x", args=args)):
    def impl(register):
        register("inline-thing", factory, aliases=("inline-alias",), description="from a test")

    impl.__name__ = hook
    inline_plugin("inline", **{hook: impl})
    registry = get_registry()
    entry = registry.get(KIND_OF[hook], "inline-alias")
    assert (entry.name, entry.plugin, entry.description) == ("inline-thing", "inline", "from a test")
    return registry, entry


def test_hook_register_tasks(inline_plugin):
    registry, _ = check_hook(inline_plugin, "register_tasks")
    assert registry.create("task", "inline-thing", None, {"k": 1}).args == {"k": 1}


def test_hook_register_retrievers(inline_plugin):
    registry, _ = check_hook(inline_plugin, "register_retrievers")
    assert registry.create("retriever", "inline-thing", None, {}).name == "x"


def test_hook_register_critics(inline_plugin):
    check_hook(inline_plugin, "register_critics")


def test_hook_register_generators(inline_plugin):
    check_hook(inline_plugin, "register_generators")


def test_hook_register_prompt_styles(inline_plugin):
    check_hook(inline_plugin, "register_prompt_styles")


def test_hook_register_presets(inline_plugin):
    _, entry = check_hook(inline_plugin, "register_presets", factory={"generator": ["reag-7b", {}]})
    assert entry.factory == {"generator": ["reag-7b", {}]}


def test_every_hook_has_a_test():
    tests = {name for name, _ in inspect.getmembers(sys.modules[__name__], inspect.isfunction)}
    assert [h for h in HOOKS if f"test_hook_{h}" not in tests] == []


def test_every_hook_is_documented():
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert [h for h in HOOKS if f"### `{h}(register)`" not in docs] == []


def test_duplicate_names_name_both_plugins(inline_plugin):
    def impl(register):
        register("reag-7b", lambda runtime: None)

    impl.__name__ = "register_generators"
    inline_plugin("dupe", register_generators=impl)
    with pytest.raises(DuplicateComponentError, match="'builtin-generators'.*'dupe'"):
        get_registry()


def test_builtins_register_through_entry_points():
    infos = {i.name: i for i in plugin_infos()}
    assert infos["builtin-retrievers"].distribution == "reag-harness"
    assert infos["builtin-retrievers"].hooks == ["register_retrievers"]


@pytest.fixture
def broken_dist(tmp_path: Path) -> Path:
    """A fake installed distribution whose plugin module fails to import."""
    (tmp_path / "broken_reag_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    info = tmp_path / "broken_reag_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-reag-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[reag_harness]\nbroken = broken_reag_plugin\n")
    return tmp_path


def test_a_broken_plugin_does_not_take_the_cli_down(broken_dist):
    env = {"PYTHONPATH": str(broken_dist)}
    out = cli("plugins", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["broken"] == [{"name": "broken", "distribution": "broken-reag-plugin",
                               "error": "RuntimeError: boom at import"}]
    assert "plugin 'broken' (distribution broken-reag-plugin) failed to load" in out.stderr
    assert any(c["name"] == "demo" for c in data["components"])
    blocked = cli("plugins", "--json", env={**env, "REAG_HARNESS_BLOCK_PLUGINS": "broken"})
    assert json.loads(blocked.stdout)["broken"] == [] and blocked.stderr == ""


def test_allow_list_loads_only_the_named_plugins():
    out = cli("ls", "--json", env={"REAG_HARNESS_PLUGINS": "builtin-tasks"})
    assert {row["kind"] for row in json.loads(out.stdout)} == {"task"}


def test_misspelt_component_is_one_line_with_suggestions_and_exit_2():
    out = cli("--task", "demo", "--generator", "reag-8b", "--no-leaderboard")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "reag-eval: error: unknown generator 'reag-8b'; did you mean 'reag-7b' or 'reag-3b'? "
        "(see: reag-eval ls generators)"]


def test_listing_reads_the_same_registry_as_the_loader(inline_plugin):
    from reag_harness.commands import listing

    def impl(register):
        register("listed-gen", lambda runtime: None, description="visible")

    impl.__name__ = "register_generators"
    inline_plugin("lister", register_generators=impl)
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        listing.run(SimpleNamespace(kind="generators", json=True))
    assert "listed-gen" in {row["name"] for row in json.loads(buf.getvalue())}


def test_template_plugin_is_listed_by_the_cli():
    out = cli("plugins", "--json")
    rows = {p["name"]: p for p in json.loads(out.stdout)["plugins"]}
    assert rows["keyword"]["distribution"] == "reag-keyword-retriever"
    assert rows["keyword"]["components"] == [{"name": "keyword", "kind": "retriever"}]


def test_template_plugin_runs_through_the_cli(tmp_path):
    out = cli("--task", "demo", "--retriever", "keyword", "--retriever-args", "top_k=2", "--critic", "none",
              "--limit", "2", "--output-dir", str(tmp_path), "--no-leaderboard", "--quiet")
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    assert results["components"]["retriever"]["distribution"] == "reag-keyword-retriever"
    rows = [json.loads(line) for line in next(tmp_path.glob("*/samples.jsonl")).read_text().splitlines()]
    assert all(len(r["retrieved_pages"]) == 2 and r["passages"] for r in rows)
