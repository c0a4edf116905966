"""The steering services: what each allows, what it refuses, and what it records."""

from __future__ import annotations

from typing import Any

import pytest

from sweeps import services
from sweeps.models import RungResult, Sweep, Trial
from sweeps.search.space import SpaceError

pytestmark = pytest.mark.django_db

SPEC = {
    "name": "steer",
    "trainer": "toy",
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
              "opt": {"type": "categorical", "choices": ["adam", "sgd"]}},
    "scheduler": {"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3},
    "start": False,
}  # fmt: skip


@pytest.fixture
def sweep(toy_trainer: str, user: Any) -> Sweep:
    sweep = services.create_sweep(SPEC, user)
    sweep.status = "running"
    sweep.save()
    return sweep


def make_trial(sweep: Sweep, status: str, rung: int = 0, number: int = 1, **fields: Any) -> Trial:
    return Trial.objects.create(sweep=sweep, number=number, params={"lr": 0.01, "opt": "adam"},
                                status=status, rung=rung, budget=3.0**rung, **fields)  # fmt: skip


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (services.resume_trial, "running"),
        (services.resume_trial, "pending"),
        (services.pause_trial, "paused"),
        (services.pause_trial, "completed"),
        (services.kill_trial, "killed"),
        (services.kill_trial, "stopped"),
        (services.promote_trial, "running"),
        (services.promote_trial, "killed"),
        (services.extend_trial, "waiting"),
    ],
)
def test_action_that_does_not_fit_the_state_is_a_conflict(
    sweep: Sweep, user: Any, action: Any, status: str
) -> None:
    trial = make_trial(sweep, status)
    events = sweep.events.count()
    with pytest.raises(services.Conflict):
        action(trial.pk, user)
    assert Trial.objects.get(pk=trial.pk).status == status
    assert sweep.events.count() == events


def test_kill_tells_the_worker_to_stop_and_is_audited(sweep: Sweep, user: Any) -> None:
    trial = make_trial(sweep, "running", attempt=1, worker="w1")
    assert services.heartbeat(trial.pk, 1) == "continue"
    services.kill_trial(trial.pk, user)
    assert services.heartbeat(trial.pk, 1) == "stop"
    event = sweep.events.get(kind="killed")
    assert event.user == user and event.trial_id == trial.pk


def test_pause_tells_the_worker_to_pause_and_resume_waits_for_it(sweep: Sweep, user: Any) -> None:
    trial = make_trial(sweep, "running", attempt=1, worker="w1")
    services.pause_trial(trial.pk, user)
    assert services.heartbeat(trial.pk, 1) == "pause"
    with pytest.raises(services.Conflict, match="still saving"):
        services.resume_trial(trial.pk, user)
    services.interrupt_segment(trial.pk, 1, resource_done=0.5, step=10, checkpoint="c.pt")
    trial = services.resume_trial(trial.pk, user)
    assert (trial.status, trial.step, trial.checkpoint) == ("pending", 10, "c.pt")


def test_manual_promotion_goes_one_rung_up_and_is_marked(sweep: Sweep, user: Any) -> None:
    trial = make_trial(sweep, "stopped", rung=0)
    trial = services.promote_trial(trial.pk, user)
    assert (trial.status, trial.rung, trial.budget, trial.manual_rungs) == ("pending", 1, 3.0, [1])
    assert sweep.events.get(kind="promoted").user == user


def test_promotion_past_the_top_rung_is_an_extension(sweep: Sweep, user: Any) -> None:
    top = make_trial(sweep, "completed", rung=2)
    with pytest.raises(services.Conflict, match="extend"):
        services.promote_trial(top.pk, user)
    trial = services.extend_trial(top.pk, user)
    assert (trial.status, trial.rung, trial.budget) == ("pending", 3, 27.0)


def test_enqueue_checks_params_against_the_space(sweep: Sweep, user: Any) -> None:
    with pytest.raises(SpaceError) as info:
        services.enqueue_trial(sweep.pk, {"lr": 5.0, "opt": "adam"}, user)
    assert "params.lr" in info.value.errors
    with pytest.raises(SpaceError) as info:
        services.enqueue_trial(sweep.pk, {"lr": 0.01}, user)
    assert "params.opt" in info.value.errors
    assert not Trial.objects.exists()
    trial = services.enqueue_trial(sweep.pk, {"lr": 0.01, "opt": "sgd"}, user)
    assert trial.manual and trial.status == "pending" and trial.params == {"lr": 0.01, "opt": "sgd"}


def test_update_sweep_validates_and_records_old_and_new(sweep: Sweep, user: Any) -> None:
    from sweeps import actions

    update = actions.REGISTRY["update_sweep"]
    with pytest.raises(SpaceError) as info:
        actions.perform(user, update, sweep.pk, {"concurrency": 0})
    assert "concurrency" in info.value.errors
    actions.perform(user, update, sweep.pk, {"concurrency": 4, "max_trials": 50})
    sweep.refresh_from_db()
    assert (sweep.concurrency, sweep.max_trials) == (4, 50)
    assert sweep.events.get(kind="updated").data == {"old": {"concurrency": 2, "max_trials": 20},
                                                      "new": {"concurrency": 4, "max_trials": 50}}  # fmt: skip


def test_sweep_actions_refuse_a_no_op(sweep: Sweep, user: Any) -> None:
    with pytest.raises(services.Conflict, match="already running"):
        services.resume_sweep(sweep.pk, user)
    services.cancel_sweep(sweep.pk, user)
    with pytest.raises(services.Conflict):
        services.cancel_sweep(sweep.pk, user)
    with pytest.raises(services.Conflict):
        services.pause_sweep(sweep.pk, user)


def test_stale_and_duplicate_segments_do_nothing(sweep: Sweep) -> None:
    trial = make_trial(sweep, "running", attempt=2)
    assert services.begin_segment(trial.pk, 0, 1, "old") is None  # an earlier attempt
    spec = services.begin_segment(trial.pk, 0, 2, "w2")
    assert spec is not None and spec.budget == 1.0
    assert services.begin_segment(trial.pk, 0, 2, "w3") is None  # a second delivery
    services.finish_segment(trial.pk, 2, 0, value=0.5, resource_done=1, step=10, checkpoint="c")
    services.finish_segment(trial.pk, 2, 0, value=0.4, resource_done=1, step=10, checkpoint="c")
    assert list(RungResult.objects.values_list("rung", "value")) == [(0, 0.5)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["kill", "segment"])
def test_trial_changes_wait_for_the_scheduler_holding_the_sweep(
    action: str, toy_trainer: str, user: Any
) -> None:
    """The scheduler's turn locks only the sweep row; every change to a trial's place must
    therefore wait for it (the services lock the sweep with the trial)."""
    import threading
    import time

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")
    sweep = services.create_sweep(SPEC, user)
    Sweep.objects.filter(pk=sweep.pk).update(status="running")
    trial = make_trial(sweep, "running", attempt=1)
    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def scheduler_turn() -> None:
        with transaction.atomic():
            Sweep.objects.select_for_update().get(pk=sweep.pk)
            locked.set()
            release.wait(10)
        connections.close_all()

    def steer() -> None:
        if action == "kill":
            services.kill_trial(trial.pk, user)
        else:
            services.begin_segment(trial.pk, 0, 1, "w")
        done.set()
        connections.close_all()

    holder = threading.Thread(target=scheduler_turn)
    holder.start()
    assert locked.wait(10)
    other = threading.Thread(target=steer)
    other.start()
    time.sleep(0.5)
    assert not done.is_set()  # waiting on the sweep row
    release.set()
    holder.join(10)
    other.join(10)
    assert done.is_set()
