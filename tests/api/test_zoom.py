"""GET /api/sweeps/{id}/zoom/: the space around a sweep's best trials (ranked by the highest
rung they reached, then value), what changed, how many results fall inside, and a spec that
launches the follow-up sweep."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from sweeps.models import Sweep
from sweeps.search import parse_space, validate_config
from tests.api.factories import counts, make_sweep, make_trial
from tests.factories import add_result

pytestmark = pytest.mark.django_db
SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    "layers": {"type": "int", "low": 1, "high": 8},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
}
# (number, params, {rung: value}) -- lower is better.
TRIALS = [
    (1, {"lr": 0.01, "layers": 2, "opt": "adam"}, {0: 0.50, 1: 0.30, 2: 0.20}),
    (2, {"lr": 0.02, "layers": 3, "opt": "adam"}, {0: 0.45, 1: 0.35, 2: 0.25}),
    (3, {"lr": 0.001, "layers": 8, "opt": "sgd"}, {0: 0.10}),  # best value, but cut at rung 0
    (4, {"lr": 0.5, "layers": 1, "opt": "sgd"}, {0: 0.90}),
    (5, {"lr": 0.04, "layers": 4, "opt": "adam"}, {0: 0.40, 1: 0.32}),
    (6, {"lr": 0.2, "layers": 5, "opt": "adam"}, {0: None}),  # NaN: no result
]


def zoom_url(sweep: Sweep, **query: Any) -> str:
    url = reverse("api-sweep-zoom", args=[sweep.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def build(owner: Any, mode: str = "min", trials: list[Any] = TRIALS, **fields: Any) -> Sweep:
    sweep = make_sweep(owner, space=SPACE, objective_mode=mode, **fields)
    for number, params, results in trials:
        trial = make_trial(sweep, number, params=params, status="stopped", rung=max(results))
        for rung, value in results.items():
            add_result(trial, rung, 3.0**rung, value)
    return sweep


def test_zoom_on_the_trials_that_went_furthest(owner: Any, client_for: Any) -> None:
    sweep = build(owner)
    before = counts()
    response = client_for(owner).get(zoom_url(sweep, k=3, margin=0.5))
    assert response.status_code == 200, response.content
    body = response.json()
    assert counts() == before
    assert (body["k"], body["margin"]) == (3, 0.5)
    # Rung 2 first (1 then 2), then rung 1 (5); trial 3's 0.10 at rung 0 does not count.
    assert body["based_on"] == [1, 2, 5]
    space = body["space"]
    assert space["opt"] == {"type": "categorical", "choices": ["adam"]}
    # layers 2..4, widened by half the spread (1) on each side: 1..5.
    assert (space["layers"]["low"], space["layers"]["high"]) == (1, 5)
    assert space["lr"]["log"] is True
    assert space["lr"]["low"] < 0.01 and space["lr"]["high"] > 0.04
    assert space["lr"]["low"] > 1e-4 and space["lr"]["high"] < 1.0
    changes = {c["name"]: c for c in body["changes"]}
    assert set(changes) == {"lr", "layers", "opt"}
    assert changes["opt"]["old"] == SPACE["opt"] and changes["opt"]["new"] == space["opt"]
    # Trials 1, 2, 5 are inside; 3 and 4 (sgd) are not, 6 has no result.
    assert body["warm_start"] == 3
    new = parse_space(space)
    for _, params, _ in TRIALS[:2]:
        validate_config(new, params)


def test_the_spec_launches_the_follow_up_sweep(owner: Any, client_for: Any) -> None:
    sweep = build(owner, name="coarse")
    client = client_for(owner)
    body = client.get(zoom_url(sweep)).json()
    spec = body["spec"]
    assert spec["name"] == "coarse (zoom)" and spec["space"] == body["space"]
    launched = client.post(reverse("api-sweeps"), spec, format="json")
    assert launched.status_code == 201, launched.content
    assert launched.json()["space"] == body["space"]
    assert launched.json()["scheduler"] == sweep.scheduler


def test_max_mode_ranks_the_largest_first(owner: Any, client_for: Any) -> None:
    sweep = build(owner, mode="max")
    body = client_for(owner).get(zoom_url(sweep, k=2)).json()
    assert body["based_on"] == [2, 1]  # both at rung 2: 0.25 beats 0.20 when maximising


def test_fewer_than_two_results_is_a_conflict(owner: Any, client_for: Any) -> None:
    one = build(owner, trials=[TRIALS[0], TRIALS[5]])
    response = client_for(owner).get(zoom_url(one))
    assert response.status_code == 409 and "at least 2" in response.json()["detail"]
    empty = make_sweep(owner, space=SPACE)
    assert client_for(owner).get(zoom_url(empty)).status_code == 409


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"k": 1}, "k"),
        ({"k": 1001}, "k"),
        ({"k": "five"}, "k"),
        ({"k": "2.5"}, "k"),
        ({"margin": -0.1}, "margin"),
        ({"margin": 11}, "margin"),
        ({"margin": "inf"}, "margin"),
        ({"margin": "nan"}, "margin"),
        ({"margin": "1_0"}, "margin"),
        ({"margin": "wide"}, "margin"),
    ],
)
def test_bad_k_or_margin_is_400_naming_it(
    query: dict[str, Any], field: str, owner: Any, client_for: Any
) -> None:
    sweep = build(owner)
    response = client_for(owner).get(zoom_url(sweep, **query))
    assert response.status_code == 400 and field in response.json()["errors"]


def test_zoom_is_for_those_who_see_the_sweep(
    owner: Any, viewer: Any, stranger: Any, client_for: Any
) -> None:
    sweep = build(owner)
    sweep.viewers.add(viewer)
    assert client_for(viewer).get(zoom_url(sweep)).status_code == 200
    assert client_for(stranger).get(zoom_url(sweep)).status_code == 404
    assert client_for(None).get(zoom_url(sweep)).status_code == 401
