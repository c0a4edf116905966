"""GET /api/trials/<id>/metrics/: points after a cursor, by name, optionally thinned."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.urls import reverse

from sweeps.api import views
from sweeps.models import MetricPoint, Sweep
from tests.api.factories import add_points

pytestmark = pytest.mark.django_db


def metrics(client: Any, trial_id: int, **query: Any) -> Any:
    return client.get(reverse("api-trial-metrics", args=[trial_id]), query)


def test_points_come_in_id_order_and_the_cursor_gives_only_newer_ones(
    viewer: Any, client_for: Any, sweep: Sweep
) -> None:
    trial = sweep.trials.get(number=3)
    add_points(trial, "train_loss", [1.0, 0.8, 0.7])
    add_points(trial, "grad_norm", [5.0, 4.0, 3.0])
    add_points(sweep.trials.get(number=1), "train_loss", [9.0])  # another trial: never here
    client = client_for(viewer)
    page = metrics(client, trial.pk).json()
    assert [(p["name"], p["value"]) for p in page["points"]] == [
        ("train_loss", 1.0), ("train_loss", 0.8), ("train_loss", 0.7),
        ("grad_norm", 5.0), ("grad_norm", 4.0), ("grad_norm", 3.0),
    ]  # fmt: skip
    ids = [p["id"] for p in page["points"]]
    assert ids == sorted(ids) and page["cursor"] == ids[-1]
    assert set(page["points"][0]) == {"id", "name", "step", "value", "time"}

    assert metrics(client, trial.pk, after=page["cursor"]).json() == {
        "points": [], "cursor": page["cursor"]
    }  # fmt: skip
    add_points(trial, "train_loss", [0.65], start_step=3)
    newer = metrics(client, trial.pk, after=page["cursor"]).json()
    assert [(p["step"], p["value"]) for p in newer["points"]] == [(3, 0.65)]
    assert newer["cursor"] > page["cursor"]


def test_name_filters_one_series(owner: Any, client_for: Any, sweep: Sweep) -> None:
    trial = sweep.trials.get(number=3)
    add_points(trial, "train_loss", [1.0, 0.8])
    add_points(trial, "grad_norm", [5.0, 4.0])
    page = metrics(client_for(owner), trial.pk, name="grad_norm").json()
    assert [p["value"] for p in page["points"]] == [5.0, 4.0]
    assert {p["name"] for p in page["points"]} == {"grad_norm"}


def test_nan_is_sent_as_null(owner: Any, client_for: Any, sweep: Sweep) -> None:
    trial = sweep.trials.get(number=3)
    add_points(trial, "train_loss", [1.0, None, math.inf])
    page = metrics(client_for(owner), trial.pk).json()
    assert [p["value"] for p in page["points"]] == [1.0, None, None]


def test_pages_are_capped_and_the_cursor_walks_through_them(
    owner: Any, client_for: Any, sweep: Sweep, monkeypatch: Any
) -> None:
    monkeypatch.setattr(views, "METRICS_PAGE", 4)
    trial = sweep.trials.get(number=3)
    add_points(trial, "train_loss", [float(i) for i in range(10)])
    client = client_for(owner)
    seen: list[float] = []
    cursor = 0
    for _ in range(5):
        page = metrics(client, trial.pk, after=cursor).json()
        assert len(page["points"]) <= 4
        if not page["points"]:
            break
        seen += [p["value"] for p in page["points"]]
        cursor = page["cursor"]
    assert seen == [float(i) for i in range(10)]


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ({"after": "x"}, "after", "must be a whole number"),
        ({"after": -1}, "after", "must be between"),
        ({"max_points": 1}, "max_points", "must be between 2 and"),
        ({"max_points": "lots"}, "max_points", "must be a whole number"),
        ({"name": "n" * 40}, "name", "at most 32 characters"),
    ],
)
def test_bad_query_is_400_naming_the_parameter(
    query: dict[str, Any], field: str, rule: str, owner: Any, client_for: Any, sweep: Sweep
) -> None:
    response = metrics(client_for(owner), sweep.trials.get(number=3).pk, **query)
    assert response.status_code == 400
    assert rule in response.json()["errors"][field]


def test_max_points_thins_each_series_and_moves_the_cursor_to_the_newest(
    owner: Any, client_for: Any, sweep: Sweep
) -> None:
    trial = sweep.trials.get(number=3)
    add_points(trial, "train_loss", [float(i) for i in range(500)])
    add_points(trial, "grad_norm", [float(i) for i in range(50)])
    page = metrics(client_for(owner), trial.pk, max_points=20).json()
    by_name: dict[str, list[dict[str, Any]]] = {}
    for point in page["points"]:
        by_name.setdefault(point["name"], []).append(point)
    assert set(by_name) == {"train_loss", "grad_norm"}
    assert all(2 <= len(points) <= 20 for points in by_name.values())
    steps = [p["step"] for p in by_name["train_loss"]]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 499
    assert page["cursor"] == MetricPoint.objects.filter(trial=trial).latest("id").id
