"""The template's own test: the plugin is installed, registered, and retrieves."""

from __future__ import annotations

from reag_keyword_retriever import KeywordRetriever

from reag_harness.core.plugin_manager import get_registry
from reag_harness.records import Sample


class TinyKB:
    pages = {"u/lake": ["Lake Sivra is a lake in the valley."], "u/bridge": ["Orrin Bridge spans the river Orrin."]}

    def keys(self):
        return list(self.pages)

    def passages(self, key):
        return self.pages[key]


def test_plugin_is_installed_and_registered():
    entry = get_registry().get("retriever", "keyword")
    assert entry.plugin == "keyword" and entry.distribution == "reag-keyword-retriever"


def test_ranks_the_matching_page_first():
    [r] = KeywordRetriever(None, top_k=2).retrieve([Sample("q", "Which river does Orrin Bridge span?", None)], TinyKB())
    assert r.pages[0][0] == "u/bridge" and r.pages[0][1] > r.pages[1][1]
    assert r.passages[0].page_key == "u/bridge"
