"""The worker's side of a segment (one trial from its checkpoint to a rung), and its faults.

A worker claims a segment (:func:`begin_segment`), renews its lease at every step
(:func:`heartbeat`, which also says continue / stop / pause), records its checkpoints, and
ends it with :func:`finish_segment`, :func:`interrupt_segment` or :func:`fail_segment`. Each
report counts once: a stale or repeated one records nothing but still gives the sweep its
turn. A lost segment is retried from its checkpoint while it has tries left
(:func:`reap_lost_segments`), then its trial fails.
"""

from __future__ import annotations

import math
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sweeps.enums import SegmentDecision
from sweeps.ingest import drop_points_after, roll_up
from sweeps.models import RungResult, Sweep, Trial
from sweeps.nudges import nudge_sweep
from sweeps.scheduling import max_rung, rung_budget
from sweeps.services.turns import advance_sweep, take_turn
from sweeps.states import SweepStatus, TrialStatus
from sweeps.transitions import move_status, record_event

HEARTBEAT_WRITE_EVERY = timedelta(seconds=1)


@dataclass(frozen=True)
class SegmentSpec:
    """Everything a worker needs to train one segment (a trial from its checkpoint to a rung)."""

    trial_id: int
    sweep_id: int
    number: int
    trainer: str
    trainer_args: dict[str, Any]
    params: dict[str, Any]
    seed: int
    rung: int
    attempt: int
    start_resource: float
    budget: float
    step: int
    checkpoint: str
    objective_metric: str
    objective_mode: str
    resource_unit: str
    horizon: float  # the budget of the top rung: where LR schedules end
    # What a heartbeat at the claim says (stop: the sweep was cancelled meanwhile); a worker
    # told "continue" here asks its first heartbeat one interval later, not at step 1.
    decision: str = SegmentDecision.CONTINUE


def _segment_trial(trial_id: int, attempt: int) -> Trial | None:
    """The locked trial if ``attempt`` is still its current one (else a stale delivery)."""
    trial = Trial.objects.select_for_update().select_related("sweep").filter(pk=trial_id).first()
    if trial is None or trial.attempt != attempt:
        return None
    return trial


def _advance_after_stale(trial_id: int) -> None:
    """A report that did not count (stale, or already recorded) still gets the sweep its turn
    once the transaction is over: when a worker reports again because the first report's
    connection dropped after its commit, the turn that should have followed it never ran."""
    sweep_id = Trial.objects.filter(pk=trial_id).values_list("sweep_id", flat=True).first()
    if sweep_id is not None:
        transaction.on_commit(lambda: advance_sweep(sweep_id))


def _claimed_segment(trial_id: int, attempt: int) -> Trial | None:
    """The locked trial if ``attempt`` is its current segment and a worker still holds it.

    None for a report that already counted: a worker retrying its report after a dropped
    connection, or one reaped meanwhile. So reporting twice records once.
    """
    trial = _segment_trial(trial_id, attempt)
    return trial if trial is not None and trial.worker else None


@transaction.atomic
def begin_segment(trial_id: int, rung: int, attempt: int, worker: str) -> SegmentSpec | None:
    """Claim a dispatched segment; None when it is stale, a duplicate, or no longer wanted."""
    trial = _segment_trial(trial_id, attempt)
    if trial is None or trial.rung != rung or trial.status != TrialStatus.RUNNING or trial.worker:
        return None
    sweep = trial.sweep
    trial.worker, trial.heartbeat_at = worker, timezone.now()
    trial.started_at = trial.started_at or trial.heartbeat_at
    trial.save(update_fields=["worker", "heartbeat_at", "started_at"])
    record_event(sweep, "segment_started", f"trial {trial.number} rung {rung} on {worker}",
                 trial=trial, rung=rung, attempt=attempt, worker=worker)  # fmt: skip
    transaction.on_commit(lambda: nudge_sweep(sweep.pk))
    return SegmentSpec(
        trial_id=trial.pk, sweep_id=sweep.pk, number=trial.number, trainer=sweep.trainer,
        trainer_args=sweep.trainer_args, params=trial.params, seed=sweep.seed * 100_003 + trial.number,
        rung=rung, attempt=attempt, start_resource=trial.resource_done, budget=trial.budget,
        step=trial.step, checkpoint=trial.checkpoint, objective_metric=sweep.objective_metric,
        objective_mode=sweep.objective_mode, resource_unit=sweep.resource_unit,
        horizon=rung_budget(sweep, trial.bracket, max_rung(sweep, trial.bracket)),
        decision=SegmentDecision.STOP if sweep.status == SweepStatus.CANCELLED
        else SegmentDecision.CONTINUE,
    )  # fmt: skip


def heartbeat(trial_id: int, attempt: int) -> SegmentDecision:
    """Renew the lease and say what the trainer should do: continue, stop or pause."""
    row = (
        Trial.objects.filter(pk=trial_id)
        .values("attempt", "status", "heartbeat_at", "sweep__status")
        .first()
    )
    if row is None or row["attempt"] != attempt:
        return SegmentDecision.STOP
    if row["status"] == TrialStatus.PAUSED:
        return SegmentDecision.PAUSE
    if row["status"] != TrialStatus.RUNNING or row["sweep__status"] == SweepStatus.CANCELLED:
        return SegmentDecision.STOP
    now = timezone.now()
    # Trainers ask several times a second; the lease needs a write only now and then.
    if row["heartbeat_at"] is None or now - row["heartbeat_at"] >= HEARTBEAT_WRITE_EVERY:
        Trial.objects.filter(pk=trial_id, attempt=attempt).update(heartbeat_at=now)
    return SegmentDecision.CONTINUE


def checkpoint_saved(
    trial_id: int, attempt: int, *, resource_done: float, step: int, checkpoint: str
) -> bool:
    """Record progress after a mid-segment checkpoint, so a lost worker resumes from here.

    False when the segment is no longer the trial's current attempt (nothing recorded).
    """
    updated = Trial.objects.filter(
        pk=trial_id, attempt=attempt, status__in=TrialStatus.ACTIVE
    ).update(
        resource_done=resource_done, step=step, checkpoint=checkpoint, heartbeat_at=timezone.now()
    )
    return updated == 1


def forget_checkpoint(trial_id: int, status: str) -> bool:
    """Retention is about to delete a trial's checkpoint: clear its row first, and only while
    the trial is still ``status``. False when it moved on meanwhile (promoted or extended by
    hand), and then the files stay. So the row names a checkpoint only while it exists, and
    an action that needs one is refused (not accepted and then failed) once it is gone."""
    return Trial.objects.filter(pk=trial_id, status=status).update(checkpoint="") == 1


def _best(sweep: Sweep, old: float | None, new: float | None) -> float | None:
    if new is None or not math.isfinite(new):
        return old
    if old is None:
        return new
    return min(old, new) if sweep.objective_mode == "min" else max(old, new)


def finish_segment(
    trial_id: int,
    attempt: int,
    rung: int,
    *,
    value: float | None,
    resource_done: float,
    step: int,
    checkpoint: str,
    se: float | None = None,
) -> None:
    """Record a finished rung (once: unique per trial and rung) and let the scheduler decide.

    ``se``: the objective's standard error, when the trainer reports ``<metric>_se``.

    The sweep's turn is taken in the same transaction (the trial's lock holds the sweep's
    row too): one commit per segment end instead of two. A turn that raises is rolled back
    alone, after the result is safely recorded, and its error raised once that commits.
    """
    turn_error: Exception | None = None
    with transaction.atomic():
        trial = _claimed_segment(trial_id, attempt)
        if trial is None or trial.rung != rung:
            return _advance_after_stale(trial_id)
        roll_up(trial)  # the segment's points are final
        finite = value if value is not None and math.isfinite(value) else None
        if finite is None or se is None or not (math.isfinite(se) and se >= 0):
            se = None
        # Unique per (trial, rung): a result already there stays as it is. One INSERT ...
        # ON CONFLICT DO NOTHING instead of get_or_create's read, savepoint and insert.
        RungResult.objects.bulk_create(
            [RungResult(trial=trial, rung=rung, sweep_id=trial.sweep_id, budget=trial.budget,
                        value=finite, se=se, manual=rung in trial.manual_rungs)],
            ignore_conflicts=True,
        )  # fmt: skip
        trial.resource_done, trial.step, trial.checkpoint = resource_done, step, checkpoint
        trial.best_value = _best(trial.sweep, trial.best_value, finite)
        trial.worker, trial.heartbeat_at, trial.retries = "", None, 0
        fields = ["resource_done", "step", "checkpoint", "best_value", "worker", "heartbeat_at",
                  "retries"]  # fmt: skip
        if trial.status == TrialStatus.RUNNING:  # paused or killed meanwhile: keep that status
            trial.status = TrialStatus.WAITING
            fields.append("status")
        trial.save(update_fields=fields)
        record_event(trial.sweep, "rung_done", f"trial {trial.number} rung {rung}: {finite}",
                     trial=trial, rung=rung, value=finite)  # fmt: skip
        try:
            with transaction.atomic():
                nudged = take_turn(trial.sweep, known=[trial])
        except Exception as exc:
            turn_error, nudged = exc, False
        if not nudged:
            transaction.on_commit(lambda: nudge_sweep(trial.sweep_id))
    if turn_error is not None:
        raise turn_error


def interrupt_segment(
    trial_id: int,
    attempt: int,
    *,
    resource_done: float,
    step: int,
    checkpoint: str,
    release: bool = False,
) -> None:
    """A segment stopped early on a stop/pause decision: keep its progress, free its worker.

    ``release``: the worker is shutting down, so the segment goes back to the queue as it is
    (resumed from this checkpoint by the next free worker; not a retry, nothing dropped).
    """
    with transaction.atomic():
        trial = _claimed_segment(trial_id, attempt)
        if trial is None:
            return _advance_after_stale(trial_id)
        # A script stopped by a signal reports its last checkpoint's step: what it logged
        # after that is trained again on resume.
        drop_points_after(trial, step)
        roll_up(trial)
        trial.resource_done, trial.step, trial.checkpoint = resource_done, step, checkpoint
        trial.worker, trial.heartbeat_at = "", None
        fields = ["resource_done", "step", "checkpoint", "worker", "heartbeat_at"]
        if (
            release
            and trial.status == TrialStatus.RUNNING
            and trial.sweep.status != SweepStatus.CANCELLED
        ):
            trial.status = TrialStatus.PENDING
            fields.append("status")
            record_event(trial.sweep, "released",
                         f"trial {trial.number} checkpointed at step {step} by a stopping worker",
                         trial=trial, step=step)  # fmt: skip
        elif trial.status == TrialStatus.RUNNING:  # stopped because the sweep was cancelled
            trial.status, trial.finished_at = TrialStatus.KILLED, timezone.now()
            fields += ["status", "finished_at"]
            record_event(
                trial.sweep, "killed", f"trial {trial.number} stopped with its sweep", trial=trial
            )
        trial.save(update_fields=fields)
        transaction.on_commit(lambda: nudge_sweep(trial.sweep_id))
    advance_sweep(trial.sweep_id)


def fail_segment(
    trial_id: int, attempt: int, *, reason: str, diverged: bool = False, retry: bool = False
) -> None:
    """A segment failed. Retry it (from its checkpoint) while this segment has tries left,
    else fail the trial."""
    with transaction.atomic():
        trial = _claimed_segment(trial_id, attempt)
        if trial is None:
            return _advance_after_stale(trial_id)
        trial.worker, trial.heartbeat_at, trial.error = "", None, reason[-4000:]
        if trial.status != TrialStatus.RUNNING:
            roll_up(trial)
            trial.save(update_fields=["worker", "heartbeat_at", "error"])
        elif retry:
            _retry_or_fail(trial, reason)
        else:
            status = TrialStatus.DIVERGED if diverged else TrialStatus.FAILED
            _fail(trial, status, reason)
        transaction.on_commit(lambda: nudge_sweep(trial.sweep_id))
    advance_sweep(trial.sweep_id)


def _fail(trial: Trial, status: str, reason: str) -> None:
    roll_up(trial)  # what the segment logged stays, as it is
    move_status(trial, status, worker="", heartbeat_at=None, error=reason[-4000:],
                finished_at=timezone.now())  # fmt: skip
    record_event(trial.sweep, status, f"trial {trial.number} {status}: {reason[:200]}", trial=trial)


def _retry_or_fail(trial: Trial, reason: str) -> None:
    """Re-queue the trial's current segment while it has tries left (``RUNGS_MAX_ATTEMPTS``
    per segment: a trial's earlier rungs spend none of them), else fail the trial."""
    tries = trial.retries + 1
    if tries < settings.RUNGS_MAX_ATTEMPTS:
        _requeue(trial, reason)
    else:
        _fail(trial, TrialStatus.FAILED,
              f"rung {trial.rung} segment gave up after {tries} tries; last: {reason}")  # fmt: skip


def _requeue(trial: Trial, reason: str) -> None:
    """Send a running trial back to the queue; it resumes from its last checkpoint. Points its
    lost segment logged after that checkpoint are dropped, so the series has no duplicates,
    and the trial's rollups follow."""
    drop_points_after(trial, trial.step)
    move_status(trial, TrialStatus.PENDING, worker="", heartbeat_at=None, error=reason[-4000:],
                retries=trial.retries + 1)  # fmt: skip
    record_event(trial.sweep, "requeued", f"trial {trial.number} re-queued: {reason[:200]}",
                 trial=trial, attempt=trial.attempt, retries=trial.retries)  # fmt: skip


def _worker_gone(worker: str) -> bool:
    """True when ``worker`` ("name@host:pid") ran on this host and its process is gone: its
    segment is lost now, not when its lease runs out (a restarted stack finds its old leases)."""
    name, _, pid = worker.rpartition(":")
    if name.rpartition("@")[2] != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def reap_lost_segments() -> int:
    """Re-queue segments whose worker stopped heart-beating or died on this host (or fail the
    trial once its segment is out of tries).

    Runs in every worker every second or so; row locks make concurrent reapers safe.
    """
    stale = timezone.now() - timedelta(seconds=settings.RUNGS_LEASE_SECONDS)
    leased = Trial.objects.filter(status=TrialStatus.RUNNING).exclude(worker="")
    lost = [
        (pk, attempt)
        for pk, attempt, worker, beat in leased.values_list(
            "pk", "attempt", "worker", "heartbeat_at"
        )
        if beat is None or beat < stale or _worker_gone(worker)
    ]
    for trial_id, attempt in lost:
        with transaction.atomic():
            trial = _segment_trial(trial_id, attempt)
            if trial is None or trial.status != TrialStatus.RUNNING or not trial.worker:
                continue
            _retry_or_fail(trial, f"worker {trial.worker} lost on rung {trial.rung}")
            transaction.on_commit(lambda sid=trial.sweep_id: nudge_sweep(sid))
        advance_sweep(trial.sweep_id)
    return len(lost)
