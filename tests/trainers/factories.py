"""Rows the worker tests need: a running sweep of the synthetic trainer and its trials."""

from __future__ import annotations

from typing import Any

from sweeps.models import Sweep, Trial


def make_sweep(user: Any, **fields: Any) -> Sweep:
    values: dict[str, Any] = {
        "name": "worker test",
        "owner": user,
        "status": "running",
        "trainer": "synthetic",
        "trainer_args": {"steps_per_epoch": 20},
        "space": {"lr": {"type": "float", "low": 0.001, "high": 1.0, "log": True}},
        "scheduler": {"name": "fifo", "min_resource": 1, "max_resource": 3, "eta": 3},
        "sampler": {"name": "random"},
        "concurrency": 1,
        "max_trials": 1,
    }
    values.update(fields)
    return Sweep.objects.create(**values)


def make_trial(sweep: Sweep, number: int = 1, **fields: Any) -> Trial:
    values: dict[str, Any] = {
        "params": {"lr": 0.1, "width": 64, "momentum": 0.0},
        "status": "running",
        "attempt": 1,
        "rung": 0,
        "budget": 1.0,
    }
    values.update(fields)
    return Trial.objects.create(sweep=sweep, number=number, **values)
