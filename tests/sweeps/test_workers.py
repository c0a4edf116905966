"""Workers as rows: registering, beating and stopping, and the state each is read in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from sweeps import queries, services
from sweeps.access import visible_sweeps
from sweeps.models import Worker
from tests.factories import make_sweep, make_trial, make_worker

pytestmark = pytest.mark.django_db


def register(name: str = "cpu0@box:101", **fields: Any) -> Worker:
    values: dict[str, Any] = {
        "host": "box", "pid": 101, "device": "cpu", "trainers": ["synthetic", "digits-mlp"],
        "broken": {"my-script": "FileNotFoundError: train.py"}, **fields,
    }  # fmt: skip
    return services.register_worker(name, **values)


def states() -> dict[str, str]:
    return {row["name"]: row["state"] for row in queries.worker_rows()}


def test_a_registered_worker_is_idle_with_its_trainers_and_what_it_cannot_run() -> None:
    register(device="cuda:0", gpu_name="NVIDIA H100 80GB HBM3")
    [row] = queries.worker_rows()
    assert row["state"] == "idle" and row["trial"] is None
    assert row["trainers"] == ["digits-mlp", "synthetic"]
    assert row["broken"] == {"my-script": "FileNotFoundError: train.py"}
    assert (row["host"], row["pid"], row["device"]) == ("box", 101, "cuda:0")
    assert row["gpu_name"] == "NVIDIA H100 80GB HBM3"
    assert row["heartbeat_age"] < 1.0 and row["stopped_at"] is None


def test_registering_again_under_the_same_name_refreshes_the_row_and_clears_stopped() -> None:
    register()
    services.worker_stopped("cpu0@box:101")
    assert states() == {"cpu0@box:101": "stopped"}
    register(trainers=["synthetic"])
    assert Worker.objects.count() == 1
    [row] = queries.worker_rows()
    assert row["state"] == "idle" and row["trainers"] == ["synthetic"]


def test_a_worker_without_a_heartbeat_within_the_lease_is_lost_until_it_beats(
    settings: Any,
) -> None:
    settings.RUNGS_LEASE_SECONDS = 5.0
    register()
    Worker.objects.update(heartbeat_at=timezone.now() - timedelta(seconds=6))
    assert states() == {"cpu0@box:101": "lost"}
    assert not queries.live_workers().exists()
    assert services.worker_heartbeat("cpu0@box:101") is True
    assert states() == {"cpu0@box:101": "idle"}
    assert list(queries.live_workers().values_list("name", flat=True)) == ["cpu0@box:101"]


def test_a_stopped_worker_no_longer_beats_and_is_not_lost() -> None:
    register()
    services.worker_stopped("cpu0@box:101")
    Worker.objects.update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert services.worker_heartbeat("cpu0@box:101") is False
    assert states() == {"cpu0@box:101": "stopped"}
    assert services.worker_heartbeat("never@registered:1") is False


def test_a_worker_holding_a_running_trial_is_running_and_names_it(user: Any) -> None:
    register()
    sweep = make_sweep(user, name="lr search")
    make_trial(sweep, 0, status="completed", worker="")
    trial = make_trial(sweep, 3, status="running", rung=1, worker="cpu0@box:101")
    make_trial(sweep, 4, status="running", worker="")  # queued: no worker holds it yet
    [row] = queries.worker_rows()
    assert row["state"] == "running"
    assert row["trial"] == {
        "id": trial.pk, "number": 3, "sweep": sweep.pk, "sweep_name": "lr search", "rung": 1,
    }  # fmt: skip


def test_a_trial_the_reader_cannot_see_is_left_out_but_the_worker_still_runs(
    user: Any, other_user: Any
) -> None:
    register()
    sweep = make_sweep(other_user)
    make_trial(sweep, 1, status="running", worker="cpu0@box:101")
    [row] = queries.worker_rows(visible_sweeps(user))
    assert row["state"] == "running" and row["trial"] is None
    [row] = queries.worker_rows()
    assert row["trial"] is not None


def test_live_workers_are_listed_first_then_lost_then_stopped() -> None:
    make_worker("a@h1:1", stopped=True, beat_age=10)
    make_worker("b@h1:2", beat_age=3600)
    make_worker("c@h2:3")
    make_worker("d@h0:4")
    assert list(states().items()) == [
        ("d@h0:4", "idle"), ("c@h2:3", "idle"), ("b@h1:2", "lost"), ("a@h1:1", "stopped"),
    ]  # fmt: skip


def test_registering_forgets_workers_silent_for_a_day() -> None:
    make_worker("old@h:1", stopped=True, beat_age=25 * 3600)
    make_worker("gone@h:2", beat_age=25 * 3600)
    make_worker("recent@h:3", stopped=True, beat_age=3600)
    register()
    assert set(Worker.objects.values_list("name", flat=True)) == {"recent@h:3", "cpu0@box:101"}


def test_the_list_takes_three_queries_however_many_workers(
    user: Any, django_assert_num_queries: Any
) -> None:
    sweep = make_sweep(user)
    for i in range(5):
        make_worker(f"w@h:{i}")
        make_trial(sweep, i, status="running", worker=f"w@h:{i}")
    with django_assert_num_queries(3):
        rows = queries.worker_rows(visible_sweeps(user))
    assert [r["state"] for r in rows] == ["running"] * 5
