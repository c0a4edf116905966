"""POST /api/sweeps/: a good spec launches a sweep; a bad one names every bad field, and
nothing is created or enqueued."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import Event, Sweep
from tests.api.factories import counts, spec

pytestmark = pytest.mark.django_db


def test_a_good_spec_creates_and_starts_a_sweep(
    owner: Any, client_for: Any, sent_tasks: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(reverse("api-sweeps"), spec(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    sweep = Sweep.objects.get()
    assert response["Location"] == f"/api/sweeps/{sweep.pk}/"
    assert body["id"] == sweep.pk and body["owner"] == "alice"
    assert body["status"] == "running" and sweep.status == "running"
    assert body["objective"] == {"metric": "val_loss", "mode": "min"}
    assert body["trainer_args"] == {
        "batch_size": 64, "val_fraction": 0.2, "optimizer": "adam", "augment": False
    }  # fmt: skip
    assert body["counts"]["pending"] == 0 and body["n_trials"] == 0
    assert body["best_trial"] is None and body["best_value"] is None
    assert Event.objects.filter(sweep=sweep, kind="created", user=owner).exists()
    assert sent_tasks == [("rungs.advance_sweep", (sweep.pk,))]


def test_start_false_leaves_a_draft_and_enqueues_nothing(
    owner: Any, client_for: Any, sent_tasks: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(reverse("api-sweeps"), spec(start=False), format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "draft"
    assert sent_tasks == []


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        (spec(scheduler={"name": "sha", "eta": 1}), "scheduler.eta", ">= 2"),
        (spec(trainer="nope"), "trainer", "unknown trainer 'nope'"),
        (spec(trainer_args={"batch_size": 0}), "trainer_args.batch_size", "must be >= 1"),
        (
            spec(space={"lr": {"type": "float", "low": 1, "high": 0.1}}),
            "space.lr.low",
            "must be less than high",
        ),
        (spec(max_trials=0), "max_trials", "must be between 1 and"),
        (spec(concurrency="two"), "concurrency", "must be a whole number"),
        (spec(colour="red"), "colour", "is not a spec field"),
        (spec(name=""), "name", "must be a non-empty string"),
        (spec(objective={"mode": "up"}), "objective.mode", "must be 'min' or 'max'"),
        (spec(search_space=999999, space=None), "search_space", "no saved search space"),
        (spec(start="yes"), "start", "must be true or false"),
        (["not", "an", "object"], "body", "must be a JSON object"),
    ],
)
def test_a_bad_spec_is_400_naming_the_field_and_rule_and_creates_nothing(
    body: Any,
    field: str,
    rule: str,
    owner: Any,
    client_for: Any,
    sent_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = counts()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(owner).post(reverse("api-sweeps"), body, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert rule in errors[field], errors
    assert counts() == before
    assert sent_tasks == [] and callbacks == []


def test_every_bad_field_is_reported_at_once(owner: Any, client_for: Any) -> None:
    body = spec(max_trials=-1, concurrency=0, sampler={"name": "magic"})
    response = client_for(owner).post(reverse("api-sweeps"), body, format="json")
    assert response.status_code == 400
    assert {"max_trials", "concurrency", "sampler.name"} <= set(response.json()["errors"])


def test_malformed_json_is_400_naming_the_body(owner: Any, client_for: Any) -> None:
    response = client_for(owner).post(
        reverse("api-sweeps"), b'{"name": ', content_type="application/json"
    )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["errors"]["body"]
    assert Sweep.objects.count() == 0


def test_a_form_body_is_415(owner: Any, client_for: Any) -> None:
    response = client_for(owner).post(reverse("api-sweeps"), {"name": "x"}, format="multipart")
    assert response.status_code == 415
    assert "detail" in response.json()
    assert Sweep.objects.count() == 0
