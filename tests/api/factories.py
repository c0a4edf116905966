"""Builders of API test data: valid specs, sweeps and trials in any state, metric points."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from sweeps.models import Event, RungResult, Sweep, Trial
from tests import factories
from tests.factories import SPACE


def spec(**overrides: Any) -> dict[str, Any]:
    """A valid spec for the toy trainer; ``overrides`` replace top-level fields."""
    base: dict[str, Any] = {
        "name": "api sweep",
        "trainer": "toy",
        "trainer_args": {"batch_size": 64},
        "objective": {"metric": "val_loss", "mode": "min"},
        "space": SPACE,
        "sampler": {"name": "random"},
        "scheduler": {"name": "hyperband", "min_resource": 1, "max_resource": 9, "eta": 3},
        "max_trials": 12,
        "concurrency": 2,
        "seed": 7,
        "start": True,
    }
    base.update(overrides)
    return base


# Running hyperband sweeps of the validation-only toy trainer.
SWEEP_DEFAULTS: dict[str, Any] = {
    "name": "made",
    "trainer": "toy",
    "trainer_args": {"batch_size": 32},
    "space": SPACE,
    "sampler": {"name": "random"},
    "scheduler": {"name": "hyperband", "min_resource": 1, "max_resource": 9, "eta": 3},
    "status": "running",
}


def make_sweep(owner: Any, *, viewers: tuple[Any, ...] = (), **fields: Any) -> Sweep:
    """A sweep row in ``status`` (default running), without going through the services."""
    return factories.make_sweep(owner, defaults=SWEEP_DEFAULTS, viewers=viewers, **fields)


def make_trial(sweep: Sweep, number: int, **fields: Any) -> Trial:
    """A running trial, its params varying with its number."""
    params = {"lr": 0.01 * number, "layers": number % 4 + 1, "opt": "adam"}
    return factories.make_trial(
        sweep, number, defaults={"params": params, "status": "running"}, **fields
    )


def add_points(trial: Trial, name: str, values: list[float | None], start_step: int = 0) -> None:
    """One series of ``values`` from ``start_step`` on, a second apart."""
    steps = range(start_step, start_step + len(values))
    factories.add_points(
        trial, name, steps, values, times=[1_700_000_000.0 + i for i in range(len(values))]
    )


def counts() -> dict[str, int]:
    """Row counts of everything a request could create."""
    return {
        "sweeps": Sweep.objects.count(),
        "trials": Trial.objects.count(),
        "events": Event.objects.count(),
    }


def shared_sweep(owner: Any, viewer: Any) -> Sweep:
    """A running sweep of ``owner``, shared with ``viewer``, with four trials:

    1 completed (best 0.30, rungs 0-2), 2 stopped (0.50), 3 running (0.40), 4 pending.
    """
    sweep = make_sweep(owner, viewers=(viewer,), name="shared")
    t1 = make_trial(sweep, 1, status="completed", best_value=0.3, rung=2, budget=9)
    t2 = make_trial(sweep, 2, status="stopped", best_value=0.5, rung=0, budget=1)
    make_trial(sweep, 3, status="running", best_value=0.4, rung=1, budget=3)
    make_trial(sweep, 4, status="pending", params={"lr": 0.002, "layers": 2, "opt": "sgd"})
    for rung, (budget, value) in enumerate([(1, 0.6), (3, 0.45), (9, 0.3)]):
        RungResult.objects.create(sweep=sweep, trial=t1, rung=rung, budget=budget, value=value)
    RungResult.objects.create(sweep=sweep, trial=t2, rung=0, budget=1, value=0.5)
    return sweep


# Every API operation (method, url name, body), with a body where one is expected.
# Trial operations act on trial number 1 of the sweep.
OPERATIONS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("get", "api-sweeps", None),
    ("post", "api-sweeps", spec()),
    ("get", "api-sweep", None),
    ("patch", "api-sweep", {"concurrency": 3}),
    ("post", "api-sweep-pause", None),
    ("post", "api-sweep-resume", None),
    ("post", "api-sweep-cancel", None),
    ("get", "api-sweep-trials", None),
    ("post", "api-sweep-trials", {"params": {"lr": 0.01, "layers": 2, "opt": "adam"}}),
    ("get", "api-sweep-bracket", None),
    ("get", "api-export-csv", None),
    ("get", "api-export-json", None),
    ("get", "api-export-parquet", None),
    ("get", "api-trial", None),
    ("post", "api-trial-kill", None),
    ("post", "api-trial-pause", None),
    ("post", "api-trial-resume", None),
    ("post", "api-trial-promote", None),
    ("post", "api-trial-extend", None),
    ("get", "api-trial-metrics", None),
]


def url_of(name: str, sweep: Sweep) -> str:
    if name == "api-sweeps":
        return reverse(name)
    pk = sweep.trials.get(number=1).pk if name.startswith("api-trial") else sweep.pk
    return reverse(name, args=[pk])
