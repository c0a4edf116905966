"""Per-object permissions: owners and staff steer, shared viewers read, strangers see
nothing (404, the same answer as for an object that does not exist)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import Sweep, Trial
from tests.api.factories import OPERATIONS, counts, url_of

pytestmark = pytest.mark.django_db

OBJECT_OPERATIONS = [op for op in OPERATIONS if op[1] != "api-sweeps"]
READS = [op for op in OBJECT_OPERATIONS if op[0] == "get"]
STEERS = [op for op in OBJECT_OPERATIONS if op[0] != "get"]


def snapshot(sweep: Sweep) -> tuple[Any, ...]:
    sweep.refresh_from_db()
    trials = tuple(Trial.objects.filter(sweep=sweep).values_list("status", "rung").order_by("id"))
    return sweep.status, sweep.concurrency, trials, counts()


def call(client: Any, method: str, url: str, body: Any) -> Any:
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(("method", "name", "body"), READS)
@pytest.mark.parametrize("role", ["owner", "viewer", "staff"])
def test_owner_viewer_and_staff_can_read(
    role: str, method: str, name: str, body: Any, sweep: Sweep, client_for: Any, request: Any
) -> None:
    response = call(client_for(request.getfixturevalue(role)), method, url_of(name, sweep), body)
    # The bracket view needs sweeps.queries; every read is visible to these roles.
    assert response.status_code == 200, (role, name, response.content[:300])


@pytest.mark.parametrize(("method", "name", "body"), READS + STEERS)
def test_a_stranger_gets_404_like_for_a_missing_object(
    method: str, name: str, body: Any, sweep: Sweep, stranger: Any, client_for: Any
) -> None:
    client = client_for(stranger)
    before = snapshot(sweep)
    url = url_of(name, sweep)
    response = call(client, method, url, body)
    assert response.status_code == 404
    missing = call(client, method, url.replace(f"/{url.split('/')[3]}/", "/999999/"), body)
    assert missing.status_code == 404
    assert response.json() == missing.json()
    assert snapshot(sweep) == before


@pytest.mark.parametrize(("method", "name", "body"), STEERS)
def test_a_viewer_cannot_steer(
    method: str,
    name: str,
    body: Any,
    sweep: Sweep,
    viewer: Any,
    client_for: Any,
    sent_tasks: list[Any],
) -> None:
    before = snapshot(sweep)
    response = call(client_for(viewer), method, url_of(name, sweep), body)
    assert response.status_code == 403
    assert "owner or staff" in response.json()["detail"]
    assert snapshot(sweep) == before and sent_tasks == []


@pytest.mark.parametrize(
    ("role", "action", "status"),
    [("owner", "pause", "paused"), ("staff", "pause", "paused"), ("staff", "cancel", "cancelled")],
)
def test_owner_and_staff_steer_sweeps(
    role: str, action: str, status: str, sweep: Sweep, client_for: Any, request: Any
) -> None:
    client = client_for(request.getfixturevalue(role))
    response = client.post(reverse(f"api-sweep-{action}", args=[sweep.pk]))
    assert response.status_code == 200 and response.json()["status"] == status


@pytest.mark.parametrize("role", ["owner", "staff"])
def test_owner_and_staff_steer_trials(
    role: str, sweep: Sweep, client_for: Any, request: Any
) -> None:
    running = sweep.trials.get(number=3)
    client = client_for(request.getfixturevalue(role))
    response = client.post(reverse("api-trial-pause", args=[running.pk]))
    assert response.status_code == 200 and response.json()["status"] == "paused"
    response = client.post(reverse("api-trial-kill", args=[running.pk]))
    assert response.status_code == 200 and response.json()["status"] == "killed"


def test_a_viewer_can_launch_their_own_sweep_and_steer_it(
    viewer: Any, client_for: Any, sweep: Sweep
) -> None:
    from tests.api.factories import spec

    client = client_for(viewer)
    created = client.post(reverse("api-sweeps"), spec(name="carol's"), format="json").json()
    assert created["owner"] == "carol"
    response = client.post(reverse("api-sweep-pause", args=[created["id"]]))
    assert response.status_code == 200
