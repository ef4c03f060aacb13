"""The static HTML pages (leaderboard, run viewer): Jinja2 templates shipped in ``reag_harness/web``.

Templates, the shared stylesheet (``common.css``) and script (``common.js``) are package data,
found through :mod:`importlib.resources`. Python modules only shape the data; each page embeds its
data as one JSON block that its script renders, so a page is one self-contained file.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from ..core.errors import MissingDependencyError

WEB_PACKAGE_DIR = "web"


def web_file(name: str) -> str:
    """The text of a file shipped in ``reag_harness/web`` (template, stylesheet, script, JSON)."""
    return (resources.files("reag_harness") / WEB_PACKAGE_DIR / name).read_text(encoding="utf-8")


def page_json(data: Any) -> Any:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&`` or line separators."""
    from markupsafe import Markup

    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return Markup(text)


@lru_cache(maxsize=1)
def environment() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # a core dependency; only a broken install lacks it
        raise MissingDependencyError("the HTML pages need jinja2: pip install jinja2") from exc
    env = jinja2.Environment(loader=jinja2.FunctionLoader(lambda name: web_file(name)),
                             autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["page_json"] = page_json
    return env


def render_page(template: str, *, title: str, data: Any, **context: Any) -> str:
    """Render ``template`` (e.g. ``viewer.html.j2``) with its data embedded as JSON."""
    return environment().get_template(template).render(title=title, data=data, **context)
