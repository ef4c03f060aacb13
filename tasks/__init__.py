"""Built-in tasks (installed as ``reag_harness.tasks``): one folder per task."""

from __future__ import annotations

from reag_harness.hookspecs import hookimpl


@hookimpl
def register_tasks(register):
    register("demo", "reag_harness.tasks.demo.task:DemoTask",
             description="Offline demo: 24 image questions over a 36-entity knowledge base written for the project")
    register("infoseek", "reag_harness.tasks.infoseek.task:InfoSeekTask",
             description="InfoSeek val (unseen question / unseen entity), official scorer")
    register("evqa", "reag_harness.tasks.evqa.task:EvqaTask", aliases=("encyclopedic-vqa",),
             description="Encyclopedic-VQA test, official EM + BEM scorer")
