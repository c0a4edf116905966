"""GET /api/workers/ lists the workers with their state and trial; POST /api/sweeps/ is
refused when live workers cannot run the trainer, and warned when none is live."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import Sweep
from tests.api.factories import make_sweep, make_trial, spec
from tests.factories import make_worker

pytestmark = pytest.mark.django_db


def test_the_list_needs_a_login(client_for: Any) -> None:
    response = client_for(None).get(reverse("api-workers"))
    assert response.status_code == 401


def test_the_list_shows_each_worker_with_its_state_and_trial(
    owner: Any, stranger: Any, client_for: Any
) -> None:
    make_worker("gpu0@a:10", ["toy", "synthetic"], device="cuda:0", gpu_name="NVIDIA H100")
    make_worker("cpu0@b:11", ["toy"], broken={"digits-cnn": "ImportError: no torch"})
    make_worker("cpu1@b:12", beat_age=3600)
    make_worker("cpu2@b:13", stopped=True, beat_age=30)
    sweep = make_sweep(owner, name="mine")
    trial = make_trial(sweep, 4, status="running", rung=2, worker="gpu0@a:10")
    response = client_for(owner).get(reverse("api-workers"))
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()}
    assert [row["name"] for row in response.json()] == [
        "gpu0@a:10", "cpu0@b:11", "cpu1@b:12", "cpu2@b:13"
    ]  # fmt: skip
    assert {name: row["state"] for name, row in rows.items()} == {
        "gpu0@a:10": "running", "cpu0@b:11": "idle", "cpu1@b:12": "lost", "cpu2@b:13": "stopped",
    }  # fmt: skip
    gpu = rows["gpu0@a:10"]
    assert (gpu["device"], gpu["gpu_name"], gpu["trainers"]) == (
        "cuda:0", "NVIDIA H100", ["toy", "synthetic"]
    )  # fmt: skip
    assert gpu["trial"] == {
        "id": trial.pk, "number": 4, "sweep": sweep.pk, "sweep_name": "mine", "rung": 2
    }  # fmt: skip
    assert rows["cpu0@b:11"]["broken"] == {"digits-cnn": "ImportError: no torch"}
    assert rows["cpu1@b:12"]["heartbeat_age"] >= 3600
    assert rows["cpu2@b:13"]["stopped_at"] is not None
    # Someone who cannot see the sweep sees the worker busy, not what it trains.
    theirs = {row["name"]: row for row in client_for(stranger).get("/api/workers/").json()}
    assert theirs["gpu0@a:10"]["state"] == "running" and theirs["gpu0@a:10"]["trial"] is None


def test_a_launch_no_live_worker_can_run_is_refused_and_nothing_is_created(
    owner: Any, client_for: Any, sent_tasks: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    make_worker("cpu0@a:1", ["digits-mlp", "synthetic"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(reverse("api-sweeps"), spec(), format="json")
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "trainer": "no live worker can run trainer 'toy'; live workers run: digits-mlp, "
            "synthetic (start a worker with it registered in the trainers file)"
        }
    }
    assert not Sweep.objects.exists()
    assert sent_tasks == []


def test_with_no_live_worker_the_launch_is_accepted_with_a_warning(
    owner: Any, client_for: Any, sent_tasks: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    make_worker("cpu0@a:1", ["digits-mlp"], stopped=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(reverse("api-sweeps"), spec(), format="json")
    assert response.status_code == 201
    body = response.json()
    [warning] = body["warnings"]
    assert warning.startswith("no worker is running: ")
    assert body["status"] == "running"
    assert sent_tasks == [("rungs.advance_sweep", (body["id"],))]


def test_a_launch_a_live_worker_can_run_has_no_warnings(owner: Any, client_for: Any) -> None:
    make_worker("cpu0@a:1", ["toy"])
    response = client_for(owner).post(reverse("api-sweeps"), spec(), format="json")
    assert response.status_code == 201 and response.json()["warnings"] == []
    # warnings belong to the launch: the sweep read later has none.
    assert "warnings" not in client_for(owner).get(response["Location"]).json()
