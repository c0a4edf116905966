"""Rows the worker tests need: a running sweep of the synthetic trainer and its trials
(made by :mod:`tests.factories`)."""

from __future__ import annotations

from typing import Any

from sweeps.models import Sweep, Trial
from tests import factories

SWEEP_DEFAULTS: dict[str, Any] = {
    "name": "worker test",
    "status": "running",
    "trainer": "synthetic",
    "trainer_args": {"steps_per_epoch": 20},
    "space": {"lr": {"type": "float", "low": 0.001, "high": 1.0, "log": True}},
    "scheduler": {"name": "fifo", "min_resource": 1, "max_resource": 3, "eta": 3},
    "sampler": {"name": "random"},
    "concurrency": 1,
    "max_trials": 1,
}
TRIAL_DEFAULTS: dict[str, Any] = {
    "params": {"lr": 0.1, "width": 64, "momentum": 0.0},
    "status": "running",
    "attempt": 1,
    "rung": 0,
    "budget": 1.0,
}


def make_sweep(user: Any, **fields: Any) -> Sweep:
    """A running fifo sweep of the synthetic trainer, one trial at a time."""
    return factories.make_sweep(user, defaults=SWEEP_DEFAULTS, **fields)


def make_trial(sweep: Sweep, number: int = 1, **fields: Any) -> Trial:
    """A running trial on its first attempt at rung 0."""
    return factories.make_trial(sweep, number, defaults=TRIAL_DEFAULTS, **fields)
