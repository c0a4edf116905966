"""GET /api/sweeps/ and /api/sweeps/<id>/: status, counts per trial status, best trial."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import Sweep
from tests.api.factories import make_sweep, make_trial

pytestmark = pytest.mark.django_db


def test_detail_has_status_counts_and_the_best_trial(
    owner: Any, client_for: Any, sweep: Sweep
) -> None:
    body = client_for(owner).get(reverse("api-sweep", args=[sweep.pk])).json()
    assert body["status"] == "running"
    assert body["counts"] == {
        "pending": 1, "running": 1, "waiting": 0, "paused": 0, "stopped": 1,
        "completed": 1, "killed": 0, "failed": 0, "diverged": 0,
    }  # fmt: skip
    assert body["n_trials"] == 4
    best = sweep.trials.get(number=1)
    assert body["best_trial"] == {"id": best.pk, "number": 1, "value": 0.3}
    assert body["best_value"] == 0.3


def test_best_trial_follows_the_objective_mode(owner: Any, client_for: Any) -> None:
    sweep = make_sweep(owner, objective_metric="val_acc", objective_mode="max")
    make_trial(sweep, 1, best_value=0.91)
    make_trial(sweep, 2, best_value=0.97)
    make_trial(sweep, 3, best_value=None)
    make_trial(sweep, 4, best_value=float("nan"))
    body = client_for(owner).get(reverse("api-sweep", args=[sweep.pk])).json()
    assert body["best_trial"]["number"] == 2 and body["best_value"] == 0.97


def test_list_shows_own_and_shared_sweeps_with_summaries(
    owner: Any, viewer: Any, stranger: Any, client_for: Any, sweep: Sweep
) -> None:
    mine = make_sweep(viewer, name="carol's own")
    make_sweep(stranger, name="bob's secret")
    body = client_for(viewer).get(reverse("api-sweeps")).json()["results"]
    assert {s["name"] for s in body} == {"shared", "carol's own"}
    by_id = {s["id"]: s for s in body}
    assert by_id[sweep.pk]["counts"]["completed"] == 1
    assert by_id[sweep.pk]["best_value"] == 0.3
    assert by_id[mine.pk]["n_trials"] == 0


def test_staff_list_everything(staff: Any, stranger: Any, client_for: Any, sweep: Sweep) -> None:
    make_sweep(stranger, name="bob's secret")
    names = {s["name"] for s in client_for(staff).get(reverse("api-sweeps")).json()["results"]}
    assert names == {"shared", "bob's secret"}


def test_list_of_a_user_with_nothing_is_empty(stranger: Any, client_for: Any, sweep: Sweep) -> None:
    response = client_for(stranger).get(reverse("api-sweeps"))
    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": []}


def test_list_query_count_does_not_grow_per_trial(
    owner: Any, client_for: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        sweep = make_sweep(owner, name=f"s{i}")
        for n in range(1, 6):
            make_trial(sweep, n, best_value=n / 10)
    client = client_for(owner)
    # auth (2) + sweeps (1) + counts (1) + one best-trial query per sweep (5)
    with django_assert_max_num_queries(10):
        assert len(client.get(reverse("api-sweeps")).json()["results"]) == 5
