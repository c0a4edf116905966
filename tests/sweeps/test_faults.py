"""Faults the services absorb: retries belong to a segment, the database is the outbox for
segments the broker did not take, a dead local worker is noticed at once, a sweep that
produced nothing is failed, and retention never leaves an action that cannot succeed."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from sweeps import services
from sweeps.ingest import write_points
from sweeps.models import MetricPoint, RungResult, Sweep, Trial
from sweeps.sending import RUN_SEGMENT

pytestmark = pytest.mark.django_db

SPEC = {
    "name": "faults",
    "trainer": "toy",
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True}},
    "scheduler": {"name": "sha", "min_resource": 1, "max_resource": 9, "eta": 3},
    "max_trials": 3,
    "concurrency": 1,
    "start": False,
}


@pytest.fixture
def sweep(toy_trainer: str, user: Any) -> Sweep:
    return services.create_sweep(SPEC, user)


@pytest.fixture
def sent(sent_tasks: Any) -> list[tuple[int, int, int]]:
    """Segments handed to the broker (none is run)."""
    out: list[tuple[int, int, int]] = []
    sent_tasks.run(RUN_SEGMENT, lambda *args: out.append(args))
    return out


def leased(sweep: Sweep, rung: int, worker: str, attempt: int = 3, **fields: Any) -> Trial:
    Sweep.objects.filter(pk=sweep.pk).update(status="running")
    return Trial.objects.create(
        sweep=sweep, number=1, params={"lr": 0.01}, status="running", rung=rung,
        budget=3.0**rung, attempt=attempt, worker=worker, heartbeat_at=timezone.now(), **fields,
    )  # fmt: skip


def expire(trial: Trial) -> None:
    Trial.objects.filter(pk=trial.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1)
    )


def test_a_trial_on_its_third_segment_is_retried_not_failed(
    sweep: Sweep, sent: list[Any], settings: Any
) -> None:
    settings.RUNGS_MAX_ATTEMPTS = 3
    trial = leased(sweep, rung=2, worker="w@elsewhere:1", attempt=3)
    for tries in (1, 2):
        expire(trial)
        assert services.reap_lost_segments() == 1
        trial.refresh_from_db()
        # Re-queued (and dispatched again at once: a new attempt, no worker yet).
        assert trial.retries == tries and trial.worker == "" and trial.attempt == 3 + tries
        assert trial.status == "running", "a lost worker is a retry, not a failure"
        Trial.objects.filter(pk=trial.pk).update(worker="w@elsewhere:1")
    expire(trial)
    services.reap_lost_segments()
    trial.refresh_from_db()
    assert trial.status == "failed"
    assert "rung 2 segment gave up after 3 tries" in trial.error and "w@elsewhere:1" in trial.error


def test_a_finished_rung_gives_the_next_segment_all_its_tries(
    sweep: Sweep, sent: list[Any]
) -> None:
    trial = leased(sweep, rung=0, worker="w@elsewhere:1", attempt=1, retries=2)
    services.finish_segment(trial.pk, 1, 0, value=0.5, resource_done=1, step=10, checkpoint="c")
    trial.refresh_from_db()
    assert trial.retries == 0 and RungResult.objects.filter(trial=trial, rung=0).exists()


def test_a_crash_retry_counts_against_the_segment(
    sweep: Sweep, sent: list[Any], settings: Any
) -> None:
    settings.RUNGS_MAX_ATTEMPTS = 2
    trial = leased(sweep, rung=1, worker="w@elsewhere:1", attempt=5)
    services.fail_segment(trial.pk, 5, reason="boom", retry=True)
    trial.refresh_from_db()
    assert (trial.status, trial.retries, trial.attempt) == ("running", 1, 6)
    Trial.objects.filter(pk=trial.pk).update(worker="w@elsewhere:1")
    services.fail_segment(trial.pk, 6, reason="boom again", retry=True)
    trial.refresh_from_db()
    assert trial.status == "failed" and "gave up after 2 tries; last: boom again" in trial.error


def test_a_dead_worker_on_this_host_is_reaped_before_its_lease_ends(
    sweep: Sweep, sent: list[Any]
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    trial = leased(sweep, rung=1, worker=f"cpu0@{host}:{gone.pid}")
    assert services.reap_lost_segments() == 1
    trial.refresh_from_db()
    assert trial.status == "running" and trial.worker == "" and trial.retries == 1
    assert trial.events.filter(kind="requeued").exists()


@pytest.mark.parametrize("worker", ["cpu0@{host}:{me}", "cpu0@another-host:999999"])
def test_a_live_or_remote_worker_keeps_its_fresh_lease(
    sweep: Sweep, sent: list[Any], worker: str
) -> None:
    import os

    trial = leased(sweep, rung=1, worker=worker.format(host=socket.gethostname(), me=os.getpid()))
    assert services.reap_lost_segments() == 0
    trial.refresh_from_db()
    assert trial.status == "running" and trial.worker


def test_a_segment_the_broker_refused_is_sent_again_from_the_database(
    sweep: Sweep,
    sent_tasks: Any,
    user: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    sent_tasks.run(RUN_SEGMENT, broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        services.start_sweep(sweep.pk, user)
        services.advance_sweep(sweep.pk)
    trial = sweep.trials.get()
    assert trial.status == "running" and trial.worker == "" and trial.heartbeat_at is None
    assert services.resend_queued() == 0, "still down: nothing sent, still marked unsent"
    assert Trial.objects.get(pk=trial.pk).heartbeat_at is None

    out: list[tuple[int, ...]] = []
    sent_tasks.run(RUN_SEGMENT, lambda *args: out.append(args))
    assert services.resend_queued() == 1
    assert out == [(trial.pk, trial.rung, trial.attempt)]
    assert Trial.objects.get(pk=trial.pk).heartbeat_at is not None
    assert services.resend_queued() == 0, "sent once: not again before a lease has passed"


def test_a_queued_segment_older_than_a_lease_is_sent_again(sweep: Sweep, sent: list[Any]) -> None:
    trial = leased(sweep, rung=0, worker="", attempt=1)
    assert services.resend_queued() == 0
    expire(trial)
    assert services.resend_queued() == 1 and sent == [(trial.pk, 0, 1)]


def test_a_sweep_where_no_trial_produced_a_result_fails_with_the_reason(
    sweep: Sweep, sent: list[Any], user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    Sweep.objects.filter(pk=sweep.pk).update(max_trials=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.start_sweep(sweep.pk, user)
        services.advance_sweep(sweep.pk)
    (trial_id, rung, attempt) = sent[-1]
    services.begin_segment(trial_id, rung, attempt, "w@elsewhere:1")
    services.fail_segment(trial_id, attempt, reason="CUDA out of memory: tried 4 GiB")
    sweep.refresh_from_db()
    assert sweep.status == "failed"
    assert sweep.error.startswith("no trial produced a result (1 failed)")
    assert "CUDA out of memory" in sweep.error
    assert sweep.events.filter(kind="failed", trial=None).exists()


@pytest.fixture
def cut_trial(sweep: Sweep) -> Trial:
    """A trial cut at rung 0 of a sweep that has completed, its checkpoint still named."""
    Sweep.objects.filter(pk=sweep.pk).update(status="completed")
    return Trial.objects.create(
        sweep=sweep, number=1, params={"lr": 0.01}, status="stopped", budget=1,
        resource_done=1, step=10, checkpoint="/ckpt/a1-s10.pt",
    )  # fmt: skip


def test_retention_clears_the_row_so_promote_is_refused_not_failed(
    cut_trial: Trial, sent: list[Any], user: Any
) -> None:
    trial = cut_trial
    assert services.forget_checkpoint(trial.pk, "stopped")
    with pytest.raises(services.Conflict, match="no checkpoint to continue from"):
        services.promote_trial(trial.pk, user)
    trial.refresh_from_db()
    assert trial.status == "stopped" and sent == []


def test_retention_keeps_the_files_of_a_trial_promoted_meanwhile(
    cut_trial: Trial, sent: list[Any], user: Any
) -> None:
    trial = cut_trial
    services.promote_trial(trial.pk, user)
    assert not services.forget_checkpoint(trial.pk, "stopped")
    assert Trial.objects.get(pk=trial.pk).checkpoint == "/ckpt/a1-s10.pt"


# --- a segment that lost its lease writes no more points ------------------------------------
# A worker that stalls past its lease (a loaded machine) and wakes after its segment was
# re-queued would otherwise add steps that the next attempt trains again from the
# checkpoint: the series would hold a step twice (seen in CI as a winner's train_loss steps
# 1, 1, 2, 3, ...).


def _steps(trial: Trial) -> list[int]:
    return list(
        MetricPoint.objects.filter(trial=trial).order_by("id").values_list("step", flat=True)
    )


def _loss(step: int) -> list[tuple[str, int, float, float]]:
    return [("train_loss", step, 1.0 / step, float(step))]


def test_a_re_queued_segment_s_late_points_are_refused(sweep: Sweep, sent: list[Any]) -> None:
    trial = leased(sweep, rung=1, worker="w@elsewhere:1", attempt=3, step=0)
    assert write_points(sweep.pk, trial.pk, _loss(1), attempt=3) == 1
    expire(trial)
    assert services.reap_lost_segments() == 1  # its point past the checkpoint is dropped
    trial.refresh_from_db()
    assert trial.attempt == 4 and _steps(trial) == []
    assert write_points(sweep.pk, trial.pk, _loss(2), attempt=3) == 0  # the stalled worker
    assert write_points(sweep.pk, trial.pk, _loss(1), attempt=4) == 1  # the next attempt
    assert _steps(trial) == [1]


def test_a_re_queued_segment_waiting_for_a_worker_is_refused_too(
    sweep: Sweep, sent: list[Any]
) -> None:
    trial = leased(sweep, rung=1, worker="w@elsewhere:1", attempt=3, step=0)
    Sweep.objects.filter(pk=sweep.pk).update(status="paused")  # nothing is sent again
    expire(trial)
    assert services.reap_lost_segments() == 1
    trial.refresh_from_db()
    assert (trial.status, trial.attempt) == ("pending", 3)
    assert write_points(sweep.pk, trial.pk, _loss(1), attempt=3) == 0
    assert _steps(trial) == []


@pytest.mark.parametrize("status", ["running", "paused", "killed"])
def test_the_segment_holding_the_trial_keeps_its_last_points(
    sweep: Sweep, sent: list[Any], status: str
) -> None:
    # Paused or killed by a user while it trains: the worker hears it at its next heartbeat,
    # and what it logged until then is kept (its checkpoint covers it).
    trial = leased(sweep, rung=1, worker="w@elsewhere:1", attempt=2)
    Trial.objects.filter(pk=trial.pk).update(status=status)
    assert write_points(sweep.pk, trial.pk, _loss(1) + _loss(2), attempt=2) == 2
    assert _steps(trial) == [1, 2]
