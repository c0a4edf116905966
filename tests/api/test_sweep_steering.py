"""Steering a sweep: pause / resume / cancel, and PATCH of concurrency and max_trials."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import Event, Sweep
from tests.api.factories import counts

pytestmark = pytest.mark.django_db


def test_pause_resume_cancel_move_the_sweep_and_record_who(
    owner: Any, client_for: Any, sweep: Sweep
) -> None:
    client = client_for(owner)
    for action, status in (("pause", "paused"), ("resume", "running"), ("cancel", "cancelled")):
        response = client.post(reverse(f"api-sweep-{action}", args=[sweep.pk]))
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status
        sweep.refresh_from_db()
        assert sweep.status == status
    kinds = list(Event.objects.filter(sweep=sweep, user=owner).values_list("kind", flat=True))
    assert kinds == ["paused", "resumed", "cancelled"]


def test_pausing_a_draft_sweep_is_409_and_changes_nothing(
    owner: Any, client_for: Any, sweep: Sweep, sent_tasks: list[Any]
) -> None:
    Sweep.objects.filter(pk=sweep.pk).update(status="draft")
    before = counts()
    response = client_for(owner).post(reverse("api-sweep-pause", args=[sweep.pk]))
    assert response.status_code == 409
    assert "cannot go from 'draft' to 'paused'" in response.json()["detail"]
    sweep.refresh_from_db()
    assert sweep.status == "draft"
    assert counts() == before and sent_tasks == []


def test_pause_resume_and_patch_of_a_cancelled_sweep_are_409(
    owner: Any, client_for: Any, sweep: Sweep
) -> None:
    Sweep.objects.filter(pk=sweep.pk).update(status="cancelled")
    client = client_for(owner)
    for action in ("pause", "resume"):
        assert client.post(reverse(f"api-sweep-{action}", args=[sweep.pk])).status_code == 409
    response = client.patch(reverse("api-sweep", args=[sweep.pk]), {"concurrency": 4}, "json")
    assert response.status_code == 409
    sweep.refresh_from_db()
    assert sweep.concurrency == 2


def test_patch_changes_concurrency_and_max_trials(
    owner: Any,
    client_for: Any,
    sweep: Sweep,
    sent_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).patch(
            reverse("api-sweep", args=[sweep.pk]), {"concurrency": 6, "max_trials": 40}, "json"
        )
    assert response.status_code == 200, response.content
    assert response.json()["concurrency"] == 6 and response.json()["max_trials"] == 40
    sweep.refresh_from_db()
    assert (sweep.concurrency, sweep.max_trials) == (6, 40)
    assert Event.objects.filter(sweep=sweep, kind="updated", user=owner).exists()
    # More slots: the scheduler is asked to fill them.
    assert ("rungs.advance_sweep", (sweep.pk,)) in sent_tasks


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"concurrency": 0}, "concurrency", "must be between 1 and"),
        ({"concurrency": 2.5}, "concurrency", "must be a whole number"),
        ({"max_trials": "many"}, "max_trials", "must be a whole number"),
        ({"max_trials": True}, "max_trials", "must be a whole number"),
        ({"concurrency": None}, "concurrency", "must be a whole number"),
        ({"name": "renamed"}, "name", "cannot be changed on a sweep"),
        ({}, "body", "give at least one of"),
        ([1, 2], "body", "must be a JSON object"),
    ],
)
def test_bad_patch_is_400_naming_the_field_and_changes_nothing(
    body: Any, field: str, rule: str, owner: Any, client_for: Any, sweep: Sweep, sent_tasks: Any
) -> None:
    before = counts()
    response = client_for(owner).patch(reverse("api-sweep", args=[sweep.pk]), body, "json")
    assert response.status_code == 400
    assert rule in response.json()["errors"][field]
    sweep.refresh_from_db()
    assert (sweep.concurrency, sweep.max_trials, sweep.name) == (2, 20, "shared")
    assert counts() == before and sent_tasks == []


def test_put_is_not_allowed(owner: Any, client_for: Any, sweep: Sweep) -> None:
    response = client_for(owner).put(reverse("api-sweep", args=[sweep.pk]), {"concurrency": 3})
    assert response.status_code == 405
