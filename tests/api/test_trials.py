"""Trials: list and detail, kill / pause / resume / promote / extend, and manual enqueue."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import Event, Sweep, Trial
from tests.api.factories import counts, make_trial

pytestmark = pytest.mark.django_db


def test_trials_of_a_sweep_in_number_order_with_rung_results(
    viewer: Any, client_for: Any, sweep: Sweep
) -> None:
    body = client_for(viewer).get(reverse("api-sweep-trials", args=[sweep.pk])).json()["results"]
    assert [t["number"] for t in body] == [1, 2, 3, 4]
    first = body[0]
    assert first["status"] == "completed" and first["best_value"] == 0.3
    assert first["params"] == {"lr": 0.01, "layers": 2, "opt": "adam"}
    assert [(r["rung"], r["budget"], r["value"]) for r in first["rung_results"]] == [
        (0, 1.0, 0.6), (1, 3.0, 0.45), (2, 9.0, 0.3)
    ]  # fmt: skip
    assert body[3]["rung_results"] == [] and body[3]["best_value"] is None


def test_trial_detail(viewer: Any, client_for: Any, sweep: Sweep) -> None:
    trial = sweep.trials.get(number=2)
    body = client_for(viewer).get(reverse("api-trial", args=[trial.pk])).json()
    assert body["id"] == trial.pk and body["sweep"] == sweep.pk
    assert body["status"] == "stopped" and body["has_checkpoint"] is False
    assert body["manual"] is False and body["manual_rungs"] == []


def test_non_finite_values_are_sent_as_null(owner: Any, client_for: Any) -> None:
    from tests.api.factories import make_sweep

    sweep = make_sweep(owner)
    trial = make_trial(sweep, 1, status="diverged", best_value=float("inf"))
    body = client_for(owner).get(reverse("api-trial", args=[trial.pk])).json()
    assert body["best_value"] is None and body["status"] == "diverged"


def test_kill_pause_resume_a_trial(
    owner: Any,
    client_for: Any,
    sweep: Sweep,
    sent_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    trial = sweep.trials.get(number=3)
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("api-trial-pause", args=[trial.pk]))
    assert response.status_code == 200 and response.json()["status"] == "paused"
    assert ("rungs.advance_sweep", (sweep.pk,)) in sent_tasks
    response = client.post(reverse("api-trial-resume", args=[trial.pk]))
    assert response.status_code == 200 and response.json()["status"] == "pending"
    response = client.post(reverse("api-trial-kill", args=[trial.pk]))
    assert response.status_code == 200 and response.json()["status"] == "killed"
    trial.refresh_from_db()
    assert trial.status == "killed"
    kinds = Event.objects.filter(trial=trial, user=owner).values_list("kind", flat=True)
    assert list(kinds) == ["paused", "resumed", "killed"]


@pytest.mark.parametrize(
    ("number", "action"),
    [(2, "kill"), (1, "pause"), (4, "extend"), (3, "promote"), (2, "extend")],
)
def test_an_action_the_trial_state_forbids_is_409_and_changes_nothing(
    number: int, action: str, owner: Any, client_for: Any, sweep: Sweep, sent_tasks: list[Any]
) -> None:
    trial = sweep.trials.get(number=number)
    before = (trial.status, trial.rung, counts())
    response = client_for(owner).post(reverse(f"api-trial-{action}", args=[trial.pk]))
    assert response.status_code == 409, response.content
    assert (
        f"trial {number}" in response.json()["detail"] or "cannot go" in response.json()["detail"]
    )
    trial.refresh_from_db()
    assert (trial.status, trial.rung, counts()) == before
    assert sent_tasks == []


def test_steering_a_trial_of_a_cancelled_sweep_is_409(
    owner: Any, client_for: Any, sweep: Sweep
) -> None:
    Sweep.objects.filter(pk=sweep.pk).update(status="cancelled")
    trial = sweep.trials.get(number=3)
    response = client_for(owner).post(reverse("api-trial-kill", args=[trial.pk]))
    assert response.status_code == 409 and "cancelled" in response.json()["detail"]


def test_promote_a_stopped_trial_by_hand(owner: Any, client_for: Any, sweep: Sweep) -> None:
    trial = sweep.trials.get(number=2)
    response = client_for(owner).post(reverse("api-trial-promote", args=[trial.pk]))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "pending" and body["rung"] == 1 and body["manual_rungs"] == [1]
    assert Event.objects.filter(trial=trial, kind="promoted", user=owner).exists()


def test_extend_a_completed_trial(owner: Any, client_for: Any, sweep: Sweep) -> None:
    trial = sweep.trials.get(number=1)
    response = client_for(owner).post(reverse("api-trial-extend", args=[trial.pk]))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "pending" and body["rung"] == 3
    assert body["budget"] > 9


def test_enqueue_a_manual_trial(
    owner: Any,
    client_for: Any,
    sweep: Sweep,
    sent_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    params = {"lr": 0.003, "layers": 3, "opt": "sgd"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(
            reverse("api-sweep-trials", args=[sweep.pk]), {"params": params}, format="json"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    trial = Trial.objects.get(pk=body["id"])
    assert response["Location"] == f"/api/trials/{trial.pk}/"
    assert body["manual"] is True and body["status"] == "pending" and body["number"] == 5
    assert trial.params == params
    assert ("rungs.advance_sweep", (sweep.pk,)) in sent_tasks


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"params": {"lr": 5.0, "layers": 3, "opt": "sgd"}}, "params.lr"),
        ({"params": {"lr": 0.01, "layers": 3, "opt": "rmsprop"}}, "params.opt"),
        ({"params": {"lr": 0.01, "layers": 3, "opt": "sgd", "depth": 9}}, "params.depth"),
        ({"params": "lr=0.1"}, "params"),
        ({}, "params"),
        ({"params": {}, "priority": 1}, "priority"),
        ([], "body"),
    ],
)
def test_enqueue_with_bad_params_is_400_and_enqueues_nothing(
    body: Any,
    field: str,
    owner: Any,
    client_for: Any,
    sweep: Sweep,
    sent_tasks: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(
            reverse("api-sweep-trials", args=[sweep.pk]), body, format="json"
        )
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert counts() == before and sent_tasks == []


def test_enqueue_into_a_cancelled_sweep_is_409(owner: Any, client_for: Any, sweep: Sweep) -> None:
    Sweep.objects.filter(pk=sweep.pk).update(status="cancelled")
    before = counts()
    response = client_for(owner).post(
        reverse("api-sweep-trials", args=[sweep.pk]),
        {"params": {"lr": 0.01, "layers": 1, "opt": "adam"}},
        format="json",
    )
    assert response.status_code == 409
    assert counts() == before
