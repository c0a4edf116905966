"""The runner against the real services and database: rungs, steering, lost workers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from sweeps import services
from sweeps.models import MetricPoint, RungResult, Sweep, Trial
from sweeps.sending import ADVANCE_SWEEP, RUN_SEGMENT
from trainers import checkpoints, runner

pytestmark = pytest.mark.django_db(transaction=True)


class Queue:
    """Stands in for the broker: segments the services enqueue, run here in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, int]] = []

    def run_all(self, limit: int = 100) -> int:
        ran = 0
        while self.sent and ran < limit:
            trial_id, rung, attempt = self.sent.pop(0)
            runner.run_segment(trial_id, rung, attempt, "test:1")
            ran += 1
        return ran


@pytest.fixture
def queue(sent_tasks: Any) -> Queue:
    q = Queue()
    sent_tasks.run(RUN_SEGMENT, lambda *args: q.sent.append(args))
    sent_tasks.run(ADVANCE_SWEEP, services.advance_sweep)
    return q


def launch(user: Any, **spec: Any) -> Sweep:
    values: dict[str, Any] = {
        "name": "runner test",
        "trainer": "synthetic",
        "trainer_args": {"steps_per_epoch": 10},
        "space": {"lr": {"type": "float", "low": 0.01, "high": 0.3, "log": True}},
        "scheduler": {"name": "sha", "min_resource": 1, "max_resource": 3, "eta": 3},
        "sampler": {"name": "random"},
        "max_trials": 3,
        "concurrency": 1,
        "seed": 5,
    }
    values.update(spec)
    return services.create_sweep(values, user)


def train_steps(trial: Trial) -> list[int]:
    return list(
        MetricPoint.objects.filter(trial=trial, name="train_loss")
        .order_by("id")
        .values_list("step", flat=True)
    )


def test_a_halving_sweep_runs_to_completion(user: Any, queue: Queue) -> None:
    sweep = launch(user)
    assert queue.run_all() == 4  # 3 trials at 1 epoch, the best again to 3 epochs
    sweep.refresh_from_db()
    assert sweep.status == "completed"
    results = RungResult.objects.filter(sweep=sweep)
    assert Counter(r.rung for r in results) == {0: 3, 1: 1}
    best = min((r for r in results if r.rung == 0), key=lambda r: r.value)
    winner = Trial.objects.get(pk=best.trial_id)
    assert winner.status == "completed" and winner.step == 30 and winner.resource_done == 3.0
    # The promoted trial resumed: one point per step, 1..30, none twice.
    assert train_steps(winner) == list(range(1, 31))
    val = MetricPoint.objects.filter(trial=winner, name="val_loss").order_by("id")
    assert list(val.values_list("step", flat=True)) == [10, 20, 30]
    assert RungResult.objects.get(trial=winner, rung=1).value == val.last().value
    # The database names the checkpoint the trial can resume from, and only that one is kept.
    ckpt = checkpoints.load_checkpoint(winner.checkpoint, restore_rngs=False)
    assert ckpt.step == 30
    assert [p.name for p in checkpoints.trial_dir(sweep.pk, winner.pk).iterdir()] == ["a2-s30.pt"]
    for trial in sweep.trials.exclude(pk=winner.pk):
        assert trial.status == "stopped" and train_steps(trial) == list(range(1, 11))

    removed = checkpoints.cleanup_checkpoints(sweep.pk, "best")
    assert sorted(removed) == sorted(t.pk for t in sweep.trials.exclude(pk=winner.pk))
    assert checkpoints.trial_dir(sweep.pk, winner.pk).is_dir()


def steer_after_first_write(
    monkeypatch: pytest.MonkeyPatch, action: Callable[[int], Any]
) -> list[int]:
    """Run ``action(trial_id)`` (a user's kill or pause) once the first points are written."""
    import sweeps.ingest

    real = sweeps.ingest.write_points
    done: list[int] = []

    def write(sweep_id: int, trial_id: int, points: Any, **kw: Any) -> int:
        n = real(sweep_id, trial_id, points, **kw)
        if not done:
            done.append(trial_id)
            action(trial_id)
        return n

    monkeypatch.setattr(sweeps.ingest, "write_points", write)
    return done


SLOW = {"steps_per_epoch": 10, "step_sleep": 0.01}


def test_kill_is_obeyed_within_a_heartbeat(
    user: Any, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    steer_after_first_write(monkeypatch, services.kill_trial)
    sweep = launch(
        user, trainer_args=SLOW, max_trials=1, scheduler={"name": "fifo", "max_resource": 5}
    )
    queue.run_all(limit=1)
    trial = sweep.trials.get()
    assert trial.status == "killed" and trial.worker == ""
    assert 0 < trial.step < 50, "stopped long before the budget"
    steps = train_steps(trial)
    assert steps == list(range(1, trial.step + 1)), "every step up to the checkpoint is kept"
    assert checkpoints.load_checkpoint(trial.checkpoint, restore_rngs=False).step == trial.step


def test_pause_then_resume_continues_the_curve(
    user: Any, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    steer_after_first_write(monkeypatch, services.pause_trial)
    sweep = launch(
        user, trainer_args=SLOW, max_trials=1, scheduler={"name": "fifo", "max_resource": 3}
    )
    queue.run_all(limit=1)
    trial = sweep.trials.get()
    assert trial.status == "paused" and 0 < trial.step < 30
    paused_at = trial.step
    services.resume_trial(trial.pk)
    queue.run_all()
    trial.refresh_from_db()
    sweep.refresh_from_db()
    assert trial.status == "completed" and trial.step == 30 and sweep.status == "completed"
    assert train_steps(trial) == list(range(1, 31))
    assert trial.events.filter(kind="segment_started").count() == 2
    assert paused_at < 30


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing after it runs, nothing is reported."""


def test_a_lost_worker_resumes_from_the_last_recorded_checkpoint(
    user: Any, queue: Queue, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    sweep = launch(
        user, trainer_args={"steps_per_epoch": 5, "step_sleep": 0.04}, max_trials=1,
        scheduler={"name": "fifo", "max_resource": 4},
    )  # fmt: skip
    import sweeps.ingest

    real_write = sweeps.ingest.write_points

    def write_then_die(sweep_id: int, trial_id: int, points: Any, **kw: Any) -> int:
        n = real_write(sweep_id, trial_id, points, **kw)
        if max(p[1] for p in points) > 10:  # killed after points past its 2nd checkpoint
            raise WorkerKilled
        return n

    monkeypatch.setattr(sweeps.ingest, "write_points", write_then_die)
    with pytest.raises(WorkerKilled):
        runner.run_segment(*queue.sent.pop(0), "doomed:1")
    monkeypatch.setattr(sweeps.ingest, "write_points", real_write)
    trial = sweep.trials.get()
    assert trial.status == "running" and trial.step == 10
    assert max(train_steps(trial)) > 10, "points past the last checkpoint reached the database"

    # The reaper finds the lease expired, re-queues the trial and drops the orphan points.
    Trial.objects.filter(pk=trial.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1)
    )
    assert services.reap_lost_segments() == 1
    assert max(train_steps(trial)) == 10
    queue.run_all()
    trial.refresh_from_db()
    assert trial.status == "completed" and trial.step == 20 and trial.attempt == 2
    assert train_steps(trial) == list(range(1, 21)), "no gap, no duplicate"


def test_divergence_marks_the_trial(user: Any, queue: Queue) -> None:
    sweep = launch(
        user, trainer_args={"steps_per_epoch": 50, "diverge_lr": 0.1}, max_trials=1,
        space={"lr": {"type": "float", "low": 1.0, "high": 2.0}},
        scheduler={"name": "fifo", "max_resource": 20},
    )  # fmt: skip
    queue.run_all()
    trial = sweep.trials.get()
    assert trial.status == "diverged" and "train_loss was" in trial.error
    last = MetricPoint.objects.filter(trial=trial, name="train_loss").order_by("id").last()
    assert last is not None and last.value is None, "the non-finite loss is stored as NULL"


@pytest.mark.django_db(transaction=True)
def test_each_rung_result_keeps_the_objectives_standard_error(user: Any, queue: Queue) -> None:
    sweep = launch(user)
    queue.run_all()
    results = list(RungResult.objects.filter(sweep=sweep))
    assert results and all(r.value is not None for r in results)
    # The synthetic trainer's validation noise is 0.005 (its reported val_loss_se).
    assert {r.se for r in results} == {0.005}
