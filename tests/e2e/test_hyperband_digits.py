"""A real Hyperband sweep of the digits MLP on a real Celery worker."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from sweeps import services
from sweeps.models import MetricPoint, RungResult
from tests.workers import Worker, wait_done

pytestmark = pytest.mark.slow


def test_hyperband_digits_sweep(worker: Worker, user: Any) -> None:
    spec = {
        "name": "digits hyperband",
        "trainer": "digits-mlp",
        "scheduler": {"name": "hyperband", "min_resource": 1, "max_resource": 9, "eta": 3},
        "sampler": {"name": "random"},
        "max_trials": 9,  # exactly the first bracket: 9 @ 1 epoch -> 3 @ 3 -> 1 @ 9
        "concurrency": 2,
        "seed": 7,
    }
    sweep = wait_done(services.create_sweep(spec, user), 240, worker)
    assert sweep.status == "completed", worker.logs()

    results = list(RungResult.objects.filter(sweep=sweep).select_related("trial"))
    assert {r.trial.bracket for r in results} == {0}
    assert Counter(r.rung for r in results) == {0: 9, 1: 3, 2: 1}
    assert sorted({r.budget for r in results}) == [1.0, 3.0, 9.0]
    # Promotions are exactly the top 1/eta of each rung (val_loss: lower is better).
    for rung in (0, 1):
        here = sorted((r for r in results if r.rung == rung), key=lambda r: r.value)
        promoted = {r.trial_id for r in results if r.rung == rung + 1}
        assert promoted == {r.trial_id for r in here[: len(here) // 3]}
        assert not any(r.manual for r in results)

    for trial in sweep.trials.all():
        names = set(MetricPoint.objects.filter(trial=trial).values_list("name", flat=True))
        assert {"train_loss", "grad_norm", "lr", "val_loss", "val_acc"} <= names, (
            trial.number,
            names,
        )

    # The winner resumed from its checkpoint at every promotion: its step counter runs on
    # without restarting, one train_loss point per optimizer step, no repeats.
    winner = next(r.trial for r in results if r.rung == 2)
    steps = list(
        MetricPoint.objects.filter(trial=winner, name="train_loss")
        .order_by("id")
        .values_list("step", flat=True)
    )
    assert steps == list(range(1, len(steps) + 1))
    assert steps[-1] == winner.step
    assert winner.events.filter(kind="segment_started").count() == 3
    assert winner.resource_done == 9.0
