"""Kill, pause / resume and promote trials while a sweep runs on a real worker."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps import services
from sweeps.models import MetricPoint, RungResult, Trial
from tests.workers import Worker, wait_done, wait_for

pytestmark = pytest.mark.slow


STEPS_PER_EPOCH = 200


def running_trial(sweep: Any, exclude: tuple[int, ...] = ()) -> Trial | None:
    """A trial training right now, early in an epoch (so a kill or pause lands mid-segment)."""
    for trial in (
        Trial.objects.filter(sweep=sweep, status="running")
        .exclude(worker="")
        .exclude(pk__in=exclude)
    ):
        latest = (
            MetricPoint.objects.filter(trial=trial, name="train_loss").order_by("-step").first()
        )
        if latest is not None and 0 < latest.step - trial.step < STEPS_PER_EPOCH // 2:
            return trial
    return None


def test_kill_pause_resume_promote_during_a_sweep(worker: Worker, user: Any) -> None:
    spec = {
        "name": "steered",
        "trainer": "synthetic",
        "trainer_args": {"steps_per_epoch": STEPS_PER_EPOCH, "step_sleep": 0.004},
        "scheduler": {"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3},
        "sampler": {"name": "random"},
        "max_trials": 9,
        "concurrency": 1,
        "seed": 5,
    }
    sweep = services.create_sweep(spec, user)

    # Kill a running trial: it stops within a few seconds and never gets a result.
    victim = wait_for(lambda: running_trial(sweep), 60, "a running trial", worker)
    services.kill_trial(victim.pk, user)
    wait_for(
        lambda: Trial.objects.get(pk=victim.pk).worker == "",
        10,
        "the killed trial to let go",
        worker,
    )
    assert Trial.objects.get(pk=victim.pk).status == "killed"

    # Pause another: it checkpoints and frees its worker; resuming continues from there.
    paused = wait_for(
        lambda: running_trial(sweep, exclude=(victim.pk,)), 60, "another running trial", worker
    )
    services.pause_trial(paused.pk, user)
    wait_for(
        lambda: Trial.objects.get(pk=paused.pk).worker == "",
        10,
        "the paused trial to let go",
        worker,
    )
    assert not RungResult.objects.filter(trial=paused).exists()
    others = wait_for(
        lambda: running_trial(sweep, exclude=(victim.pk, paused.pk)),
        60,
        "the freed slot in use",
        worker,
    )
    assert others is not None
    services.resume_trial(paused.pk, user)

    # Promote a cut trial by hand once rung 0 is decided.
    cut = wait_for(
        lambda: Trial.objects.filter(sweep=sweep, status="stopped").first(),
        120,
        "a cut trial",
        worker,
    )
    services.promote_trial(cut.pk, user)

    sweep = wait_done(sweep, 240, worker)
    assert sweep.status == "completed", worker.logs()
    assert not RungResult.objects.filter(trial=victim).exists()
    assert RungResult.objects.filter(trial=paused, rung=0).exists()
    steps = list(
        MetricPoint.objects.filter(trial=paused, name="train_loss")
        .order_by("step")
        .values_list("step", flat=True)
    )
    assert steps == list(range(1, len(steps) + 1)), "the resumed trial restarted or skipped steps"

    manual = RungResult.objects.get(trial=cut, rung=1)
    assert manual.manual
    rule = RungResult.objects.filter(sweep=sweep, rung=1, manual=False).count()
    assert rule == 3, "a manual promotion took a place from the rule's promotions"
    kinds = set(sweep.events.filter(user=user).values_list("kind", flat=True))
    assert {"killed", "paused", "resumed", "promoted"} <= kinds
