"""A task's default arguments for a component still apply when the user names that same component."""

from __future__ import annotations

from reag_harness.config import RunConfig
from reag_harness.interfaces import Runtime
from reag_harness.runner import resolve_components
from reag_harness.tasks.demo.task import DemoTask


def resolve(**options):
    return resolve_components(RunConfig.from_mapping({"task": "demo", **options}), DemoTask(Runtime()))


def test_naming_the_default_component_keeps_the_task_arguments():
    default = resolve()
    assert default["retriever"].args["top_k"] == 5 and default["critic"].args["threshold"] == 0.0
    named = resolve(retriever="tiny-eva-clip", critic="tiny-critic")
    assert named["retriever"].args["top_k"] == 5 and named["critic"].args["threshold"] == 0.0
    assert named["retriever"].source == "cli"


def test_user_arguments_still_win_key_by_key_and_other_components_get_none():
    chosen = resolve(retriever="tiny-eva-clip", retriever_args={"top_k": 2})
    assert chosen["retriever"].args["top_k"] == 2
    other = resolve(critic="none")
    assert "threshold" not in other["critic"].args
