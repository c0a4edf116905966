"""List endpoints run a fixed number of queries, however many rows they list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from sweeps.models import RungResult, Sweep
from tests.api.factories import make_sweep, make_trial

pytestmark = pytest.mark.django_db


def _queries(client: APIClient, url: str) -> int:
    client.get(url)  # the token and session lookups settle on the first request
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def _sweep_with_trials(owner: Any, n_trials: int, **fields: Any) -> Sweep:
    sweep = make_sweep(owner, **fields)
    for number in range(1, n_trials + 1):
        trial = make_trial(sweep, number, best_value=1.0 / number, status="completed")
        RungResult.objects.create(sweep=sweep, trial=trial, rung=0, budget=1, value=1.0 / number)
    return sweep


def test_the_sweep_list_reads_2_and_20_sweeps_in_as_many_queries(
    owner: Any, client_for: Callable[[Any], APIClient]
) -> None:
    client, url = client_for(owner), reverse("api-sweeps")
    for i in range(2):
        _sweep_with_trials(owner, 3, name=f"s{i}")
    two = _queries(client, url)
    for i in range(2, 20):
        _sweep_with_trials(owner, 3, name=f"s{i}", objective_mode="max" if i % 2 else "min")
    assert len(client.get(url).json()["results"]) == 20
    assert _queries(client, url) == two


def test_the_trial_list_reads_2_and_20_trials_in_as_many_queries(
    owner: Any, client_for: Callable[[Any], APIClient]
) -> None:
    client = client_for(owner)
    small, large = _sweep_with_trials(owner, 2), _sweep_with_trials(owner, 20)
    two = _queries(client, reverse("api-sweep-trials", args=[small.pk]))
    url = reverse("api-sweep-trials", args=[large.pk])
    assert len(client.get(url).json()["results"]) == 20
    assert _queries(client, url) == two
