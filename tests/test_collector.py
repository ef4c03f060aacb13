"""The run keeps the cyclic collector out of its way and puts its settings back, however it ends."""

from __future__ import annotations

import gc

import pytest

from reag_harness.api import evaluate
from reag_harness.core.plugin_manager import register_plugin, unregister_plugin
from reag_harness.pipeline import collector
from reag_harness.plugins import zero_cost


@pytest.fixture
def zero(tmp_path):
    register_plugin(zero_cost, "zero-cost")
    image = zero_cost.write_image(tmp_path)
    try:
        yield lambda **kw: evaluate(task="zero-cost-synth", task_args={"questions": 30, "pages": 200, "image": image},
                                    output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "stages"),
                                    device="cpu", quiet=True, leaderboard=False, **kw)
    finally:
        unregister_plugin("zero-cost")


def test_the_collector_is_quiet_during_a_run_and_as_before_after_it(zero, monkeypatch):
    seen = []
    real = zero_cost.CrcCritic.p_yes

    def watching(self, *args, **kwargs):
        seen.append((gc.get_threshold()[0], gc.get_freeze_count() > 0))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(zero_cost.CrcCritic, "p_yes", watching)
    before = gc.get_threshold()
    zero()
    assert seen and all(t == max(before[0], collector.YOUNG_THRESHOLD) and frozen for t, frozen in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_failing_run_puts_the_collector_back(zero, monkeypatch):
    def failing(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zero_cost.CrcCritic, "p_yes", failing)
    before = gc.get_threshold()
    with pytest.raises(KeyboardInterrupt):
        zero()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_disabled_collector_is_left_alone(zero):
    gc.disable()
    try:
        zero()
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()
