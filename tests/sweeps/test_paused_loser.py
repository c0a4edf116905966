"""A trial paused after reporting, whose rung then fills without it among the best, is cut
by the turn like the others: the turn does not fail on it (it used to: the rule's stop of a
paused trial was refused by the state machine, the turn rolled back, and every later turn
failed the same way, leaving the sweep stuck)."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps import services
from sweeps.models import Event, RungResult
from tests.factories import make_sweep, make_trial

pytestmark = pytest.mark.django_db


def test_a_paused_trial_that_loses_its_place_is_cut_and_the_sweep_goes_on(
    user: Any, sent_tasks: Any
) -> None:
    sweep = make_sweep(
        user, max_trials=9, concurrency=9,
        scheduler={"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3},
    )  # fmt: skip
    for number in range(1, 10):
        trial = make_trial(sweep, number, status="waiting", rung=0, budget=1.0,
                           params={"lr": 0.01 * number})  # fmt: skip
        RungResult.objects.create(sweep=sweep, trial=trial, rung=0, budget=1, value=number / 10)
    worst = sweep.trials.get(number=9)
    services.pause_trial(worst.pk, user)

    services.advance_sweep(sweep.pk)

    statuses = dict(sweep.trials.values_list("number", "status"))
    assert {statuses[n] for n in (1, 2, 3)} <= {"pending", "running"}, statuses
    assert statuses[9] == "stopped"
    cut = Event.objects.get(sweep=sweep, trial=worst, kind="stopped")
    assert "not in the best 1/3 at rung 0" in cut.message
