"""SIGKILL the worker mid-segment: the sweep still completes, nothing duplicated or lost."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.db.models import F

from sweeps import services
from sweeps.models import MetricPoint, RungResult, Trial
from tests.workers import Worker, wait_done, wait_for

pytestmark = pytest.mark.slow


def test_sigkilled_worker_is_recovered(worker: Worker, user: Any) -> None:
    spec = {
        "name": "survives a lost worker",
        "trainer": "synthetic",
        "trainer_args": {"steps_per_epoch": 50, "step_sleep": 0.01},
        "scheduler": {"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3},
        "sampler": {"name": "random"},
        "max_trials": 9,
        "concurrency": 1,
        "seed": 3,
    }
    sweep = services.create_sweep(spec, user)

    def mid_segment() -> Trial | None:
        # A trial training past its last recorded checkpoint, with an epoch still to go
        # (so the segment cannot end before the kill lands): kill the worker there.
        candidates = Trial.objects.filter(
            sweep=sweep, status="running", step__gt=0, resource_done__lt=F("budget") - 1
        )
        for trial in candidates.exclude(worker=""):
            if MetricPoint.objects.filter(trial=trial, step__gt=trial.step).exists():
                return trial
        return None

    victim = wait_for(mid_segment, 120, "a segment past its last checkpoint", worker)
    worker.kill()
    worker.start()

    sweep = wait_done(sweep, 180, worker)
    assert sweep.status == "completed", worker.logs()
    assert sweep.trials.count() == 9
    results = list(RungResult.objects.filter(sweep=sweep).values_list("trial_id", "rung"))
    assert len(results) == len(set(results)), "a rung result was written twice"
    assert Counter(r for _, r in results) == {0: 9, 1: 3, 2: 1}

    victim.refresh_from_db()
    assert victim.attempt >= 2 and victim.events.filter(kind="requeued").exists()
    for name in ("train_loss", "grad_norm"):
        steps = list(
            MetricPoint.objects.filter(trial=victim, name=name)
            .order_by("step")
            .values_list("step", flat=True)
        )
        assert steps == list(range(1, victim.step + 1)), (
            f"{name}: gap or duplicate after the checkpoint"
        )
