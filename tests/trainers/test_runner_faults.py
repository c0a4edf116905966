"""The runner under faults, against the real services: a worker that stops releases its
segment at a checkpoint, and a top-rung trial survives a lost worker."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from sweeps import services
from sweeps.models import RungResult, Trial
from tests.trainers.test_runner_db import Queue, WorkerKilled, launch, queue, train_steps
from trainers import checkpoints, runner

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["queue"]  # the fixture


@pytest.fixture
def shutting_down() -> Any:
    yield runner.SHUTTING_DOWN
    runner.SHUTTING_DOWN.clear()


def test_a_stopping_worker_checkpoints_and_releases_its_segment(
    user: Any, queue: Queue, monkeypatch: pytest.MonkeyPatch, shutting_down: Any
) -> None:
    import sweeps.ingest

    real = sweeps.ingest.write_points

    def write(sweep_id: int, trial_id: int, points: Any, **kw: Any) -> int:
        shutting_down.set()  # SIGTERM arrives once the first points are written
        return real(sweep_id, trial_id, points, **kw)

    monkeypatch.setattr(sweeps.ingest, "write_points", write)
    sweep = launch(
        user, trainer_args={"steps_per_epoch": 10, "step_sleep": 0.01}, max_trials=1,
        scheduler={"name": "fifo", "max_resource": 3},
    )  # fmt: skip
    queue.run_all(limit=1)
    trial = sweep.trials.get()
    # Back in the queue (dispatched again), at a checkpoint of its own step, no retry spent.
    assert trial.status == "running" and trial.worker == "" and trial.retries == 0
    assert 0 < trial.step < 30
    assert checkpoints.load_checkpoint(trial.checkpoint, restore_rngs=False).step == trial.step
    assert trial.events.filter(kind="released").exists()
    assert not trial.events.filter(kind="requeued").exists()

    shutting_down.clear()
    monkeypatch.setattr(sweeps.ingest, "write_points", real)
    queue.run_all()
    trial.refresh_from_db()
    assert trial.status == "completed" and trial.step == 30
    assert train_steps(trial) == list(range(1, 31)), "resumed where it stopped: no gap, no repeat"


def test_a_trial_lost_on_its_top_rung_still_finishes_the_sweep(
    user: Any, queue: Queue, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The bug this guards: attempts were counted over a trial's life, so its third segment
    had no retry left and the sweep "completed" with nothing at the full budget."""
    settings.RUNGS_MAX_ATTEMPTS = 2
    sweep = launch(
        user, trainer_args={"steps_per_epoch": 5}, max_trials=9,
        scheduler={"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3},
    )  # fmt: skip
    while queue.sent:
        trial_id, rung, attempt = queue.sent.pop(0)
        if rung == 2 and not Trial.objects.get(pk=trial_id).retries:
            import sweeps.ingest

            real = sweeps.ingest.write_points

            def die(*args: Any, **kw: Any) -> int:
                raise WorkerKilled

            monkeypatch.setattr(sweeps.ingest, "write_points", die)
            with pytest.raises(WorkerKilled):
                runner.run_segment(trial_id, rung, attempt, "doomed@elsewhere:1")
            monkeypatch.setattr(sweeps.ingest, "write_points", real)
            Trial.objects.filter(pk=trial_id).update(
                heartbeat_at=timezone.now() - timezone.timedelta(hours=1)
            )
            assert services.reap_lost_segments() == 1
            continue
        runner.run_segment(trial_id, rung, attempt, "test@elsewhere:1")
    sweep.refresh_from_db()
    assert sweep.status == "completed"
    assert not sweep.trials.filter(status="failed").exists()
    top = RungResult.objects.get(sweep=sweep, rung=2)
    winner = Trial.objects.get(pk=top.trial_id)
    assert winner.status == "completed" and winner.attempt == 4 and winner.resource_done == 9


@pytest.mark.parametrize("dropped", ["before its commit", "after its commit"])
def test_a_report_whose_connection_dropped_is_sent_again_and_counts_once(
    user: Any, queue: Queue, monkeypatch: pytest.MonkeyPatch, dropped: str
) -> None:
    from django.db import OperationalError

    real = services.finish_segment
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            if dropped == "after its commit":
                real(*args, **kwargs)
            raise OperationalError("terminating connection due to administrator command")
        real(*args, **kwargs)

    monkeypatch.setattr(services, "finish_segment", flaky)
    sweep = launch(user, max_trials=2, scheduler={"name": "fifo", "max_resource": 1})
    queue.run_all()
    sweep.refresh_from_db()
    assert len(calls) == 3, "the first report was sent again; the second trial reported once"
    assert sweep.status == "completed" and sweep.trials.filter(status="completed").count() == 2
    assert RungResult.objects.filter(sweep=sweep).count() == 2
    assert sweep.events.filter(kind="rung_done").count() == 2
