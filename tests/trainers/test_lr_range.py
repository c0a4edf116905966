"""The LR range test on the trainer side: the schedule, the stop rule, the suggested range,
and which trainers can be tested."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from trainers.lr_range import SCRATCH_SWEEP, lr_schedule, run_range_test, suggest
from trainers.registry import get_trainer


@pytest.fixture(autouse=True)
def registered(settings: Any) -> None:
    settings.RUNGS_TRAINERS = {
        "fn-line": "tests.trainers.function_trainers:line",
        "script": {"command": "python tests/trainers/scripts/lines.py"},
    }


def test_the_rate_rises_exponentially_from_low_to_high() -> None:
    at = lr_schedule(1e-6, 1.0, 13)
    assert at(0) == pytest.approx(1e-6) and at(12) == pytest.approx(1.0)
    assert at(6) == pytest.approx(1e-3)  # halfway on the log scale
    assert at(50) == pytest.approx(1.0), "past the last step it stays at high"
    for low, high, steps in [(0, 1, 20), (1, 0.5, 20), (1e-5, 1, 3)]:
        with pytest.raises(ValueError):
            lr_schedule(low, high, steps)


def test_the_range_runs_from_the_steepest_fall_to_the_minimum() -> None:
    lrs = [10 ** (-5 + i * 0.1) for i in range(50)]
    # Flat, a fall steepest around lr = 1e-3, a minimum at 1e-1, then a rise.
    smoothed = [
        2 - math.tanh((math.log10(lr) + 3) * 2) - (0 if lr <= 0.1 else -50 * (lr - 0.1))
        for lr in lrs
    ]
    best = suggest(lrs, smoothed)
    assert best is not None
    assert best["low"] == pytest.approx(1e-3, rel=0.3)
    assert best["high"] == pytest.approx(lrs[smoothed.index(min(smoothed))])
    assert suggest(lrs[:5], [1.0, 2, 3, 4, 5]) is None, "a loss that never falls suggests nothing"


def test_synthetic_stops_when_the_loss_blows_up_and_suggests_inside(checkpoint_dir: Path) -> None:
    result = run_range_test(get_trainer("synthetic"), {}, {"width": 64, "momentum": 0.5}, steps=100)
    lrs = result["lr"]
    assert lrs == sorted(lrs) and lrs[0] == pytest.approx(1e-7)
    assert len(lrs) < 100 and "passed 4x its minimum" in result["stopped"]
    low, high = result["suggested"]["low"], result["suggested"]["high"]
    assert lrs[0] < low < high < lrs[-1], "inside the tested range, short of the diverging end"
    assert min(result["smoothed"]) * 4 < result["smoothed"][-1]
    leftovers = list((checkpoint_dir / str(SCRATCH_SWEEP)).glob("*/*.pt"))
    assert not leftovers, "the test's checkpoints are deleted"


def test_a_built_in_classifier_and_a_training_function_are_tested(checkpoint_dir: Path) -> None:
    mlp = run_range_test(get_trainer("digits-mlp"), {}, {"optimizer": "sgd"}, high=100.0, steps=60)
    assert mlp["lr"][1] > mlp["lr"][0] and mlp["suggested"] is not None
    fn = run_range_test(get_trainer("fn-line"), {}, {}, low=1e-4, high=10.0, steps=40)
    assert fn["lr"][0] == pytest.approx(1e-4) and len(fn["lr"]) > 10


def test_a_heartbeat_can_cancel_it(checkpoint_dir: Path) -> None:
    beats = iter(["continue"] * 5 + ["stop"] * 100)
    result = run_range_test(get_trainer("synthetic"), {}, {}, heartbeat=lambda: next(beats))
    assert result["cancelled"] and len(result["lr"]) == 6 and result["suggested"] is None


def test_a_script_cannot_be_tested() -> None:
    with pytest.raises(ValueError, match="does not expose its learning rate"):
        run_range_test(get_trainer("script"), {}, {})
