"""A task's default arguments for a component still apply when the user names that same component."""

from __future__ import annotations

from reag_harness.core.config import RunConfig
from reag_harness.interfaces import Runtime
from reag_harness.pipeline.components import resolve_components
from reag_harness.tasks.demo.task import DemoTask


def resolve(**options):
    return resolve_components(RunConfig.from_mapping({"task": "demo", **options}), DemoTask(Runtime()))


def test_naming_the_default_component_keeps_the_task_arguments():
    default = resolve()
    assert default["retriever"].args["top_k"] == 5 and default["critic"].args["threshold"] == 0.1
    named = resolve(retriever="tiny-eva-clip", critic="tiny-critic")
    assert named["retriever"].args["top_k"] == 5 and named["critic"].args["threshold"] == 0.1
    assert named["retriever"].source == "cli"


def test_user_arguments_still_win_key_by_key_and_other_components_get_none():
    chosen = resolve(retriever="tiny-eva-clip", retriever_args={"top_k": 2})
    assert chosen["retriever"].args["top_k"] == 2
    other = resolve(critic="none")
    assert "threshold" not in other["critic"].args


def test_swapping_a_preset_component_carries_its_arguments_and_is_recorded(capsys):
    from reag_harness.pipeline.components import announce_departures

    chosen = resolve(generator="reag-7b", retriever="tiny-eva-clip")
    assert chosen["critic"].name == "reag-critic" and chosen["critic"].source == "preset reag-7b"  # the rest stays
    assert chosen["retriever"].args["crop"] is True and chosen["retriever"].args["top_k"] == 20
    departures = announce_departures(chosen)
    assert departures == [{"kind": "retriever", "preset": "reag-7b", "preset_component": "eva-clip",
                           "preset_args": {"top_k": 20, "crop": True}, "used": "tiny-eva-clip",
                           "carried_over": {"top_k": 20, "crop": True}}]
    assert "departing from preset reag-7b: retriever eva-clip replaced by tiny-eva-clip" in capsys.readouterr().err
    none = resolve(generator="reag-7b", retriever="none")
    assert "crop" not in none["retriever"].args  # nothing carries over to no retrieval
