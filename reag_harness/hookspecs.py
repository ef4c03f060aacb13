"""The plugin hooks. A plugin implements any of them with ``@hookimpl``.

Each hook is handed a ``register`` callback, as in simonw/llm. Call it once per
component::

    register(name, factory, aliases=(), description="")

``factory`` is either a callable ``factory(runtime, **args) -> component`` or a string
``"package.module:attribute"`` imported only when the component is used, so that
listing plugins never imports torch. Built-in components register exactly this way.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "reag_harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., Any]


@hookspec
def register_tasks(register: Register) -> None:
    """Register benchmarks: the factory returns a :class:`~reag_harness.interfaces.Task`.

    ``register("demo", "reag_harness.tasks.demo.task:DemoTask", description=...)``
    """


@hookspec
def register_retrievers(register: Register) -> None:
    """Register retrievers: the factory returns a :class:`~reag_harness.interfaces.Retriever`.

    ``register("eva-clip", "reag_harness.plugins.retrievers.eva_clip:EvaClipRetriever")``
    """


@hookspec
def register_critics(register: Register) -> None:
    """Register passage critics: the factory returns a :class:`~reag_harness.interfaces.Critic`."""


@hookspec
def register_generators(register: Register) -> None:
    """Register answer generators: the factory returns a :class:`~reag_harness.interfaces.Generator`."""


@hookspec
def register_prompt_styles(register: Register) -> None:
    """Register prompt styles: the factory returns a :class:`~reag_harness.interfaces.PromptStyle`."""


@hookspec
def register_presets(register: Register) -> None:
    """Register named pipeline configurations (the factory is a dict, not a callable).

    ``register("reag-7b", {"generator": ["reag-7b", {}], "retriever": ["eva-clip", {"top_k": 20}],
    "critic": ["reag-critic", {"threshold": 0.1}], "prompt_style": ["reag-reasoning", {}]},
    description=...)``. A preset named like a generator is applied when that generator is
    chosen and the user names no other component.
    """
