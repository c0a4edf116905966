"""LR schedules: shapes, horizon, and a checkpointable callable."""

from __future__ import annotations

import pytest

from trainers.schedules import ScheduleFactor, lr_factor


def test_constant() -> None:
    assert {lr_factor("constant", s, 100) for s in range(0, 300, 7)} == {1.0}


def test_warmup_cosine_rises_then_decays_to_the_floor() -> None:
    f = [lr_factor("warmup_cosine", s, 100) for s in range(200)]
    assert f[0] == pytest.approx(0.2) and f[4] == 1.0  # 5 warmup steps
    assert all(a >= b for a, b in zip(f[5:100], f[6:101], strict=False))
    assert f[100] == pytest.approx(0.01) and f[199] == pytest.approx(0.01)


def test_one_cycle_peaks_at_thirty_percent() -> None:
    f = [lr_factor("one_cycle", s, 100) for s in range(101)]
    assert f[0] == pytest.approx(1 / 25)
    assert max(f) == f[30] == 1.0
    assert f[100] == pytest.approx(1 / 25 / 1e4)


def test_unknown_schedule_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="schedule must be one of"):
        ScheduleFactor("triangle", 10)


def test_factor_state_is_plain_values() -> None:
    assert vars(ScheduleFactor("one_cycle", 10)) == {"schedule": "one_cycle", "horizon_steps": 10}
