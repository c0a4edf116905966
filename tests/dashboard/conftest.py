"""Factories for the dashboard tests: sweeps, trials, rung results and points made directly."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

# Browser tests drive a live server from synchronous Playwright code inside pytest.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "layers": {"type": "int", "low": 1, "high": 4},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
}


def make_sweep(owner: Any, **fields: Any) -> Any:
    """A sweep row made directly (no validation, no worker)."""
    from sweeps.models import Sweep

    values: dict[str, Any] = {
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
    values.update(fields)
    return Sweep.objects.create(owner=owner, **values)


def make_trial(sweep: Any, number: int, **fields: Any) -> Any:
    from sweeps.models import Trial

    values: dict[str, Any] = {
        "params": {"lr": 0.001 * number, "layers": 1 + number % 4, "opt": "adam"},
        "status": "pending",
        "budget": 1.0,
    }
    values.update(fields)
    return Trial.objects.create(sweep=sweep, number=number, **values)


def add_result(
    trial: Any, rung: int, budget: float, value: float | None, manual: bool = False
) -> Any:
    from sweeps.models import RungResult

    return RungResult.objects.create(
        sweep_id=trial.sweep_id, trial=trial, rung=rung, budget=budget, value=value, manual=manual
    )


def add_points(
    trial: Any, name: str, steps: Sequence[int], values: Sequence[float | None]
) -> list[Any]:
    from sweeps.models import MetricPoint

    now = time.time()
    return MetricPoint.objects.bulk_create(
        MetricPoint(sweep_id=trial.sweep_id, trial=trial, name=name, step=s, value=v, time=now)
        for s, v in zip(steps, values, strict=True)
    )


@pytest.fixture
def sweep_factory(user: Any) -> Callable[..., Any]:
    return lambda **fields: make_sweep(user, **fields)


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


@pytest.fixture(autouse=True)
def _no_broker(request: pytest.FixtureRequest) -> None:
    """Sends are recorded by the root ``sent_tasks``; ``slow`` tests (real workers) send for
    real."""
    if not request.node.get_closest_marker("slow"):
        request.getfixturevalue("sent_tasks")


@pytest.fixture(autouse=True, scope="package")
def _no_persistent_connections() -> Any:
    """Connections opened by the socket code's threads close after each use (Django's
    default), so none is left open on the test database when it is flushed or dropped."""
    from django.db import connections

    db = connections.settings["default"]
    old = db.get("CONN_MAX_AGE", 0)
    db["CONN_MAX_AGE"] = 0
    yield
    db["CONN_MAX_AGE"] = old


@pytest.fixture(autouse=True)
def _close_tailer_connections() -> Any:
    """The tailer reads on its own thread; close its connections so the test database can
    be flushed and dropped."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from dashboard import tailer

    tailer.close_connections()
    # database_sync_to_async work in async tests runs on asgiref's single sync thread.
    executor = getattr(SyncToAsync, "single_thread_executor", None)
    if executor is not None:
        executor.submit(connections.close_all).result()
    _close_stray_connections()


def _close_stray_connections() -> None:
    """Close connections an async test opened in its own context (Django keeps one per
    async context), which the main thread's ``connections`` cannot reach."""
    import gc
    import threading
    import weakref

    from django.db import connections
    from django.db.backends.base.base import BaseDatabaseWrapper

    mine = connections["default"]
    for obj in gc.get_objects():
        if isinstance(obj, weakref.ProxyTypes):  # a dead proxy raises on any access
            continue
        if (
            isinstance(obj, BaseDatabaseWrapper)
            and obj is not mine
            and obj.connection is not None
            and obj._thread_ident == threading.get_ident()
            and not obj.in_atomic_block
        ):
            obj.close()
