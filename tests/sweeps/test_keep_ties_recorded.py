"""A trial promoted as a tie is recorded as such in the sweep's events."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps import services
from sweeps.models import Event, RungResult
from tests.factories import make_sweep, make_trial

pytestmark = pytest.mark.django_db


def test_a_tie_is_promoted_and_recorded(user: Any, sent_tasks: Any) -> None:
    sweep = make_sweep(
        user, max_trials=9, concurrency=9,
        scheduler={"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3,
                   "keep_ties": True},
    )  # fmt: skip
    for number in range(1, 10):
        trial = make_trial(sweep, number, status="waiting", rung=0, budget=1.0,
                           params={"lr": 0.01 * number})  # fmt: skip
        se = 0.04 if number == 4 else 0.03
        RungResult.objects.create(sweep=sweep, trial=trial, rung=0, budget=1,
                                  value=number / 10, se=se)  # fmt: skip
    services.advance_sweep(sweep.pk)
    statuses = dict(sweep.trials.values_list("number", "status"))
    assert [n for n, s in sorted(statuses.items()) if s != "stopped"] == [1, 2, 3, 4]
    ties = Event.objects.filter(sweep=sweep, kind="promoted", data__tie=True)
    assert [e.trial.number for e in ties] == [4]
    assert ties.get().message.endswith("as a tie: within noise of the last trial the rule kept")
    # The bracket marks it: a tie's promotion, not the rule's.
    from sweeps.queries import bracket

    [rung0, *_] = bracket(sweep)["brackets"][0]["rungs"]
    how = {c["number"]: c["promotion"] for c in rung0["cells"]}
    assert how == {1: "rule", 2: "rule", 3: "rule", 4: "tie", **{n: None for n in range(5, 10)}}
