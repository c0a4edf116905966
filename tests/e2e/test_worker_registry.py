"""A real Celery worker registers itself: its trainers, its running trial, its shutdown; a
launch it cannot run is refused while it is live; a SIGKILLed worker reads as lost."""

from __future__ import annotations

import signal
import socket
from typing import Any

import pytest

from sweeps import queries, services
from sweeps.models import Sweep, Trial
from sweeps.search.space import SpaceError
from tests.workers import Worker, wait_for

pytestmark = pytest.mark.slow

SPEC = {
    "name": "seen by the worker list",
    "trainer": "synthetic",
    "trainer_args": {"steps_per_epoch": 200, "step_sleep": 0.01},
    "scheduler": {"name": "fifo", "max_resource": 20},
    "sampler": {"name": "random"},
    "max_trials": 2,
    "concurrency": 1,
}


def row_of(worker: Worker) -> Any:
    """The worker list's row of ``worker``'s current process, once it has registered."""
    assert worker.proc is not None
    pid = worker.proc.pid
    return next((r for r in queries.worker_rows() if r["pid"] == pid), None)


def test_a_worker_registers_runs_refuses_and_stops(
    worker: Worker, user: Any, toy_trainer: str
) -> None:
    row = wait_for(lambda: row_of(worker), 60, "the worker to register", worker)
    assert row["name"] == f"test1@{socket.gethostname()}:{worker.proc.pid}"
    assert row["host"] == socket.gethostname() and row["state"] == "idle"
    assert {"synthetic", "digits-mlp", "digits-cnn", "mnist1d-cnn"} <= set(row["trainers"])
    assert row["device"] in ("cpu", "cuda:0") and row["trial"] is None

    # The toy trainer is registered here (settings) but not in the worker: refused.
    with pytest.raises(SpaceError) as refused:
        services.create_sweep({"name": "toy", "trainer": toy_trainer}, user)
    assert refused.value.errors["trainer"].startswith(
        "no live worker can run trainer 'toy'; live workers run: "
    )
    assert not Sweep.objects.exists()

    sweep = services.create_sweep(SPEC, user)
    assert sweep.warnings == []
    row = wait_for(
        lambda: (r := row_of(worker)) and r["state"] == "running" and r, 60, "a running trial",
        worker,
    )  # fmt: skip
    trial = Trial.objects.get(pk=row["trial"]["id"])
    assert trial.worker == row["name"] and trial.status == "running"
    assert row["trial"] == {
        "id": trial.pk, "number": trial.number, "sweep": sweep.pk, "sweep_name": sweep.name,
        "rung": trial.rung,
    }  # fmt: skip

    # A warm shutdown releases the segment and marks the worker stopped.
    worker.kill(signal.SIGTERM)
    row = wait_for(lambda: row_of(worker), 5, "the row after the shutdown", worker)
    assert row["state"] == "stopped", worker.logs()
    assert not queries.live_workers().exists()
    # With no live worker a launch goes ahead, warned.
    assert services.create_sweep(SPEC, user).warnings[0].startswith("no worker is running")


def test_a_sigkilled_worker_reads_as_lost_after_its_lease(worker: Worker, settings: Any) -> None:
    wait_for(lambda: row_of(worker), 60, "the worker to register", worker)
    worker.kill(signal.SIGKILL)
    row = wait_for(
        lambda: (r := row_of(worker)) and r["state"] != "idle" and r,
        settings.RUNGS_LEASE_SECONDS + 5, "the worker to be lost", worker,
    )  # fmt: skip
    assert row["state"] == "lost"
