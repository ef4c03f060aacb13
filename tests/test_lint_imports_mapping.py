"""tools/lint_imports.py: the import graph holds the folders pyproject maps into the namespace (plugins/ as
reag_harness.plugins, tasks/ as reag_harness.tasks), with every import into and out of them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")
pytest.importorskip("importlinter")

from grimp.application.config import settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def load_tool():
    spec = importlib.util.spec_from_file_location("lint_imports_tool", ROOT / "tools" / "lint_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def mapped_finder():
    """grimp with the tool's package finder, put back afterwards (grimp's settings are process-wide)."""
    before = settings.PACKAGE_FINDER
    load_tool().install()
    yield
    settings.configure(PACKAGE_FINDER=before)


class _MapTo:
    """A meta-path finder like setuptools' editable one: ``top.ext`` lives in a folder outside ``top/``."""

    def __init__(self, name: str, folder: Path):
        self.name, self.folder = name, folder

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.name:
            return importlib.util.spec_from_file_location(
                fullname, self.folder / "__init__.py", submodule_search_locations=[str(self.folder)])
        return None


def test_a_mapped_subpackage_is_walked_under_its_import_name(tmp_path, monkeypatch, mapped_finder) -> None:
    (tmp_path / "top").mkdir()
    (tmp_path / "top" / "__init__.py").write_text("")
    (tmp_path / "top" / "low.py").write_text("def f():\n    from top.ext.plug import X\n    return X\n")
    (tmp_path / "extdir").mkdir()
    (tmp_path / "extdir" / "__init__.py").write_text("")
    (tmp_path / "extdir" / "plug.py").write_text("from top.low import f\nfrom . import other\nX = 1\n")
    (tmp_path / "extdir" / "other.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [_MapTo("top.ext", tmp_path / "extdir"), *sys.meta_path])
    for name in [m for m in sys.modules if m == "top" or m.startswith("top.")]:
        monkeypatch.delitem(sys.modules, name)
    graph = grimp.build_graph("top", "top.ext", cache_dir=None)
    assert {"top.ext.plug", "top.ext.other"} <= graph.modules
    assert graph.find_modules_directly_imported_by("top.low") == {"top.ext.plug"}  # a function-level import
    assert graph.find_modules_directly_imported_by("top.ext.plug") == {"top.low", "top.ext.other"}


def test_every_plugin_and_task_module_of_the_repository_is_in_the_graph(mapped_finder) -> None:
    graph = grimp.build_graph("reag_harness", "reag_harness.plugins", "reag_harness.tasks", cache_dir=None)
    for folder in ("plugins", "tasks"):
        files = [p.relative_to(ROOT).with_suffix("") for p in (ROOT / folder).rglob("*.py")]
        expected = {"reag_harness." + ".".join(p.parts[:-1] if p.name == "__init__" else p.parts) for p in files}
        assert expected <= graph.modules, sorted(expected - graph.modules)
    imported_by_plugins = {t for m in graph.find_descendants("reag_harness.plugins")
                           for t in graph.find_modules_directly_imported_by(m)}
    assert "reag_harness.records" in imported_by_plugins
    importers_of_tasks = {m for t in graph.find_descendants("reag_harness.tasks")
                          for m in graph.find_modules_that_directly_import(t)}
    assert any(not m.startswith(("reag_harness.tasks", "reag_harness.plugins")) for m in importers_of_tasks)
