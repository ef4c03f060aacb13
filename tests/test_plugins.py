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
from reag_harness.core.errors import DuplicateComponentError
from reag_harness.core.plugin_manager import get_registry, plugin_infos, register_plugin, unregister_plugin
from reag_harness.hookspecs import hookimpl

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


def test_duplicate_names_name_both_plugins_and_only_using_the_name_fails(inline_plugin, capsys):
    def impl(register):
        register("reag-7b", lambda runtime: None)
        register("dupe-only", lambda runtime: None)

    impl.__name__ = "register_generators"
    inline_plugin("dupe", register_generators=impl)
    registry = get_registry()  # does not raise: every other name still works
    warning = [line for line in capsys.readouterr().err.splitlines() if "reag-7b" in line]
    assert len(warning) == 1 and "'builtin-generators'" in warning[0] and "'dupe'" in warning[0]
    assert registry.get("generator", "dupe-only").plugin == "dupe"
    assert registry.get("generator", "reag-3b").plugin == "builtin-generators"
    with pytest.raises(DuplicateComponentError, match="'builtin-generators'.*'dupe'"):
        registry.get("generator", "reag-7b")


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
    from reag_harness.cli.commands import listing

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


def fake_dist(root: Path, dist: str, entry_point: str, module: str, source: str) -> Path:
    """An installed-looking distribution (dist-info + module) on a PYTHONPATH folder."""
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[reag_harness]\n{entry_point} = {module}\n")
    return root


GEN_PLUGIN = """
from reag_harness.hookspecs import hookimpl

@hookimpl
def register_generators(register):
    register({names})
    {then}
"""


def test_a_plugin_cannot_displace_the_builtins_by_name(tmp_path):
    fake_dist(tmp_path, "evil-plugin", "builtin-generators", "evil_plugin",
              GEN_PLUGIN.format(names="'only-evil', lambda runtime: None", then="pass"))
    out = cli("ls", "generators", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    names = {row["name"] for row in json.loads(out.stdout)}
    assert {"reag-3b", "reag-7b"} <= names and "only-evil" not in names
    assert "plugin 'builtin-generators' (distribution evil-plugin)" in out.stderr and "skipped" in out.stderr


def test_duplicate_component_from_an_installed_plugin_does_not_break_ls(tmp_path):
    fake_dist(tmp_path, "twin-plugin", "twin", "twin_plugin",
              GEN_PLUGIN.format(names="'reag-3b', lambda runtime: None", then="pass"))
    env = {"PYTHONPATH": str(tmp_path)}
    listed = cli("ls", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stderr.splitlines() if "reag-3b" in line]
    assert len(lines) == 1 and "'builtin-generators'" in lines[0] and "'twin'" in lines[0], listed.stderr
    assert cli("plugins", env=env).returncode == 0
    used = cli("--task", "demo", "--generator", "reag-3b", "--no-leaderboard", env=env)
    assert used.returncode == 2 and "registered twice" in used.stderr


@pytest.mark.parametrize("raise_", ["import sys; sys.exit(3)", "raise BaseException('odd')"])
def test_sys_exit_at_import_is_contained_and_named(tmp_path, raise_):
    fake_dist(tmp_path, "exiting-plugin", "exiting", "exiting_plugin", raise_ + "\n")
    out = cli("plugins", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    broken = json.loads(out.stdout)["broken"]
    assert [(b["name"], b["distribution"]) for b in broken] == [("exiting", "exiting-plugin")]
    assert broken[0]["error"].split(":")[0] in ("SystemExit", "BaseException")


@pytest.mark.parametrize("then", ["raise RuntimeError('half way')", "raise SystemExit(4)"])
def test_a_failing_register_hook_keeps_nothing_and_names_its_distribution(tmp_path, then):
    fake_dist(tmp_path, "half-plugin", "half", "half_plugin",
              GEN_PLUGIN.format(names="'half-gen', lambda runtime: None", then=then))
    out = cli("ls", "generators", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert "half-gen" not in {row["name"] for row in json.loads(out.stdout)}
    assert "plugin 'half' (distribution half-plugin) failed in: register_generators" in out.stderr
    assert "(its 1 registration(s) were rolled back)" in out.stderr
