"""Rows made directly (no validation, no services, no worker), shared by every test package.

Each package keeps its own defaults (the API's sweeps use the validation-only toy trainer,
the worker tests the synthetic one, the dashboard's a successive-halving sweep) and passes
them as ``defaults``; how a row is made is written once, here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.utils import timezone

from sweeps.models import MetricPoint, RungResult, Sweep, Trial, Worker

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "layers": {"type": "int", "low": 1, "high": 4},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
}

# A successive-halving sweep (eta 3, budgets 1/3/9) of the synthetic trainer.
SWEEP_DEFAULTS: dict[str, Any] = {
    "name": "demo sweep",
    "trainer": "synthetic",
    "space": SPACE,
    "status": "running",
    "objective_metric": "val_loss",
    "objective_mode": "min",
    "scheduler": {"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3},
    "sampler": {"name": "random"},
    "max_trials": 20,
    "concurrency": 2,
}


def make_sweep(
    owner: Any,
    *,
    defaults: Mapping[str, Any] = SWEEP_DEFAULTS,
    viewers: Iterable[Any] = (),
    **fields: Any,
) -> Sweep:
    """A sweep row of ``owner`` from ``defaults`` with ``fields`` replacing them, shared
    with ``viewers``."""
    sweep = Sweep.objects.create(owner=owner, **{**defaults, **fields})
    viewers = list(viewers)
    if viewers:
        sweep.viewers.add(*viewers)
    return sweep


def trial_defaults(number: int) -> dict[str, Any]:
    """A pending trial on the first rung, its params varying with its number."""
    return {
        "params": {"lr": 0.001 * number, "layers": 1 + number % 4, "opt": "adam"},
        "status": "pending",
        "budget": 1.0,
    }


def make_trial(
    sweep: Sweep, number: int, *, defaults: Mapping[str, Any] | None = None, **fields: Any
) -> Trial:
    """Trial ``number`` of ``sweep`` from ``defaults`` (:func:`trial_defaults` when None)
    with ``fields`` replacing them."""
    values = {**(trial_defaults(number) if defaults is None else defaults), **fields}
    return Trial.objects.create(sweep=sweep, number=number, **values)


def add_result(
    trial: Trial, rung: int, budget: float, value: float | None, manual: bool = False
) -> RungResult:
    """The trial's result at the end of ``rung``."""
    return RungResult.objects.create(
        sweep_id=trial.sweep_id, trial=trial, rung=rung, budget=budget, value=value, manual=manual
    )


def add_points(
    trial: Trial,
    name: str,
    steps: Sequence[int],
    values: Sequence[float | None],
    times: Sequence[float] | None = None,
) -> list[MetricPoint]:
    """Metric points of one series, written in one batch (``times``: now for every point
    when None)."""
    now = time.time()
    at = list(times) if times is not None else [now] * len(steps)
    return MetricPoint.objects.bulk_create(
        MetricPoint(sweep_id=trial.sweep_id, trial=trial, name=name, step=s, value=v, time=t)
        for s, v, t in zip(steps, values, at, strict=True)
    )


def build_sha_sweep(owner: Any) -> dict[str, Any]:
    """A successive-halving sweep (eta 3, budgets 1/3/9) part way through, by hand:

    rung 0: trials 1..9 done (values 0.1..0.9; 9 is NaN); 1, 2, 3 promoted by the rule;
    trial 6 cut and then promoted by hand; trial 8 killed at rung 0.
    rung 1: 1 done (0.05) and promoted to rung 2 (running); 2 done, waiting; 3 running;
    6 (manual) paused.
    """
    sweep = make_sweep(owner)
    trials = {}
    status = {1: "running", 2: "waiting", 3: "running", 6: "paused", 8: "killed", 9: "diverged"}
    rung = {1: 2, 2: 1, 3: 1, 6: 1}
    budget = {0: 1.0, 1: 3.0, 2: 9.0}
    for n in range(1, 10):
        r = rung.get(n, 0)
        trials[n] = make_trial(
            sweep,
            n,
            status=status.get(n, "stopped"),
            rung=r,
            budget=budget[r],
            manual_rungs=[1] if n == 6 else [],
            best_value=0.1 * n if n != 9 else None,
        )
        add_result(trials[n], 0, 1.0, 0.1 * n if n != 9 else None)
    add_result(trials[1], 1, 3.0, 0.05)
    add_result(trials[2], 1, 3.0, 0.15)
    return {"sweep": sweep, "trials": trials}


def make_worker(
    name: str,
    trainers: Sequence[str] = ("synthetic",),
    *,
    beat_age: float = 0.0,
    stopped: bool = False,
    **fields: Any,
) -> Worker:
    """A worker row whose last heartbeat was ``beat_age`` seconds ago (stopped then, if
    ``stopped``); the pid is read from the ``node:pid`` name."""
    beat = timezone.now() - timedelta(seconds=beat_age)
    values: dict[str, Any] = {
        "host": name.partition("@")[2].rpartition(":")[0] or "host",
        "pid": int(name.rpartition(":")[2]),
        "device": "cpu",
        "trainers": list(trainers),
        "started_at": beat - timedelta(minutes=5),
        "heartbeat_at": beat,
        "stopped_at": beat if stopped else None,
        **fields,
    }
    return Worker.objects.create(name=name, **values)
