"""The surrogate panel: the Bayesian sampler's mean, std and acquisition along a parameter."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard import analytics, steering
from tests.dashboard.conftest import add_result, make_sweep, make_trial

pytestmark = pytest.mark.django_db

BAYES = {"name": "bayes", "base_estimator": "GP", "acq_func": "EI", "n_initial_points": 3}


def _bayes_sweep(user: Any, n: int = 6, rung: int = 2) -> Any:
    """A successive-halving sweep (rungs 0-2) with ``n`` results at ``rung``."""
    sweep = make_sweep(user, sampler=BAYES)
    for i in range(1, n + 1):
        lr = 10 ** (-4 + 3 * i / n)
        trial = make_trial(
            sweep, i, status="stopped", params={"lr": lr, "layers": 1 + i % 4, "opt": "adam"}
        )
        add_result(trial, rung, 3.0**rung, (i - n / 2) ** 2 / 10)
    return sweep


def test_surrogate_along_a_parameter(user: Any) -> None:
    sweep = _bayes_sweep(user)
    out = analytics.surrogate(sweep.pk, "lr")
    upper, lower, mean, observed, acquisition = out["figure"]["data"]
    assert len(mean["x"]) >= 10 and len(mean["y"]) == len(mean["x"])
    assert all(u >= m >= lo for u, m, lo in zip(upper["y"], mean["y"], lower["y"], strict=True))
    assert len(observed["x"]) == 6
    assert acquisition["yaxis"] == "y2"
    assert out["figure"]["layout"]["xaxis"]["type"] == "log"


def test_the_panel_says_which_rung_the_model_is_fitted_on_and_why(user: Any) -> None:
    title = analytics.surrogate(_bayes_sweep(user).pk, "lr")["figure"]["layout"]["title"]
    assert "fitted on rung 2" in title["text"]


def test_low_rung_results_nobody_confirmed_give_no_model(user: Any) -> None:
    # Rung 0 of 0-2 with no trial above it: nothing says its ranking holds at the full
    # budget, so the sampler draws at random, and the panel says so instead of a model.
    with pytest.raises(ValueError, match="no model yet, configs are drawn at random"):
        analytics.surrogate(_bayes_sweep(user, rung=0).pk, "lr")


def test_surrogate_refuses_non_bayes_and_unknown_parameter(user: Any) -> None:
    with pytest.raises(ValueError, match="bayes"):
        analytics.surrogate(make_sweep(user).pk, "lr")
    with pytest.raises(ValueError, match="not a parameter"):
        analytics.surrogate(_bayes_sweep(user).pk, "nope")


def test_surrogate_needs_enough_results(user: Any) -> None:
    sweep = _bayes_sweep(user, n=2)
    reply = steering.handle(user, sweep.pk, '{"action": "surrogate", "param": "lr", "ref": 1}')
    assert reply["type"] == "error" and "n_initial_points" in reply["errors"]["param"]


def test_a_viewer_may_ask_for_the_surrogate(user: Any, other_user: Any) -> None:
    sweep = _bayes_sweep(user)
    sweep.viewers.add(other_user)
    reply = steering.handle(other_user, sweep.pk, '{"action": "surrogate", "param": "layers"}')
    assert reply["ok"] is True and reply["param"] == "layers"


def test_panel_status_says_why_when_not_available(user: Any) -> None:
    assert (
        analytics.surrogate_status({"sampler": {"name": "random"}, "space": {}})["available"]
        is False
    )
    status = analytics.surrogate_status({"sampler": BAYES, "space": {"lr": {}, "opt": {}}})
    assert status == {"available": True, "reason": "", "params": ["lr", "opt"]}
