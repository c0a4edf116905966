"""Every state change of sweeps and trials goes through a function here.

Each function works inside ``transaction.atomic()`` on rows locked with
``select_for_update``, records an :class:`~sweeps.models.Event` (with the user for manual
actions), and only after commit enqueues Celery work and nudges live pages. A steering
action that lost a race against the scheduler (the trial moved on meanwhile) raises
:class:`Conflict`, which the API turns into 409.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from sweeps import sending
from sweeps.enums import SegmentDecision
from sweeps.ingest import drop_points_after, roll_up
from sweeps.models import RungResult, Sweep, Trial
from sweeps.nudges import nudge_sweep
from sweeps.scheduling import (
    apply_decisions,
    clean_params,
    dispatch_pending,
    max_rung,
    next_number,
    rung_budget,
)
from sweeps.search.space import SpaceError
from sweeps.states import SweepStatus, TrialStatus
from sweeps.transitions import Conflict, move_status, record_event
from sweeps.validation import CONCURRENCY_CAP, MAX_TRIALS_CAP, _int_field, clean_spec

log = logging.getLogger(__name__)

HEARTBEAT_WRITE_EVERY = timedelta(seconds=1)


def _after_commit(sweep_id: int, advance: bool = False, cleanup: bool = False) -> None:
    def send() -> None:
        if cleanup:  # the sweep ended: apply the checkpoint retention policy
            try:
                sending.send_task(sending.CLEANUP_CHECKPOINTS, sweep_id)
            except Exception:  # the broker is down; the next cleanup of this sweep catches up
                log.warning("could not enqueue checkpoint cleanup of sweep %s", sweep_id)
        if advance:
            try:
                sending.send_task(sending.ADVANCE_SWEEP, sweep_id)
            except Exception:
                # The broker is down: take the turn here, or a freed slot would wait for the
                # next segment to end (forever, if none runs). Its own sends mark themselves
                # unsent and the reaper re-sends them once the broker is back.
                log.warning("broker unreachable; advancing sweep %s in this process", sweep_id)
                advance_sweep(sweep_id)
        nudge_sweep(sweep_id)

    transaction.on_commit(send)


def create_sweep(spec: Any, user: Any) -> Sweep:
    """Validate ``spec`` and create a sweep owned by ``user``; start it if ``spec["start"]``.

    Raises SpaceError (field -> rule) and creates nothing when the spec is bad.
    """
    cleaned = clean_spec(spec)
    start = cleaned.pop("start")
    with transaction.atomic():
        sweep = Sweep.objects.create(owner=user, **cleaned)
        record_event(sweep, "created", f"sweep {sweep.name!r} created", user=user)
        if start:
            _start(sweep, user)
    return sweep


def _start(sweep: Sweep, user: Any) -> None:
    move_status(sweep, SweepStatus.RUNNING, started_at=sweep.started_at or timezone.now())
    record_event(sweep, "started", "sweep started", user=user)
    _after_commit(sweep.pk, advance=True)


def _locked_sweep(sweep_id: int) -> Sweep:
    return Sweep.objects.select_for_update().get(pk=sweep_id)


@transaction.atomic
def start_sweep(sweep_id: int, user: Any = None) -> Sweep:
    sweep = _locked_sweep(sweep_id)
    _start(sweep, user)
    return sweep


@transaction.atomic
def pause_sweep(sweep_id: int, user: Any = None) -> Sweep:
    """Stop handing out new segments; running segments finish their rung."""
    sweep = _locked_sweep(sweep_id)
    move_status(sweep, SweepStatus.PAUSED)
    record_event(sweep, "paused", "sweep paused", user=user)
    _after_commit(sweep.pk)
    return sweep


@transaction.atomic
def resume_sweep(sweep_id: int, user: Any = None) -> Sweep:
    sweep = _locked_sweep(sweep_id)
    move_status(sweep, SweepStatus.RUNNING)
    record_event(sweep, "resumed", "sweep resumed", user=user)
    _after_commit(sweep.pk, advance=True)
    return sweep


@transaction.atomic
def cancel_sweep(sweep_id: int, user: Any = None) -> Sweep:
    """End the sweep: no new segments; running trials are told to stop at their next step."""
    sweep = _locked_sweep(sweep_id)
    move_status(sweep, SweepStatus.CANCELLED, finished_at=timezone.now())
    record_event(sweep, "cancelled", "sweep cancelled", user=user)
    _after_commit(sweep.pk, cleanup=True)
    return sweep


@transaction.atomic
def update_sweep(
    sweep_id: int,
    user: Any = None,
    *,
    concurrency: int | None = None,
    max_trials: int | None = None,
) -> Sweep:
    """Change concurrency and/or the trial budget of a live sweep."""
    errors: dict[str, str] = {}
    changes = {
        key: _int_field({key: value}, key, key, 0, 1, cap, errors)
        for key, value, cap in (
            ("concurrency", concurrency, CONCURRENCY_CAP),
            ("max_trials", max_trials, MAX_TRIALS_CAP),
        )
        if value is not None
    }
    if errors:
        raise SpaceError(errors)
    sweep = _locked_sweep(sweep_id)
    if sweep.status in SweepStatus.TERMINAL:
        raise Conflict(f"sweep {sweep.pk} is {sweep.status}; it cannot be changed")
    old = {key: getattr(sweep, key) for key in changes}
    for key, value in changes.items():
        setattr(sweep, key, value)
    sweep.save(update_fields=list(changes))
    record_event(sweep, "updated", ", ".join(f"{k} {old[k]} -> {v}" for k, v in changes.items()),
                 user=user, old=old, new=changes)  # fmt: skip
    if sweep.status == SweepStatus.COMPLETED and "max_trials" in changes:
        move_status(sweep, SweepStatus.RUNNING, finished_at=None)
    _after_commit(sweep.pk, advance=True)
    return sweep


# --- steering one trial ----------------------------------------------------------------------


def _locked_trial(trial_id: int) -> Trial:
    trial = Trial.objects.select_for_update().select_related("sweep").get(pk=trial_id)
    if trial.sweep.status in SweepStatus.TERMINAL:
        raise Conflict(
            f"sweep {trial.sweep_id} is {trial.sweep.status}; its trials cannot be steered"
        )
    return trial


@transaction.atomic
def kill_trial(trial_id: int, user: Any = None) -> Trial:
    """Kill a trial. A running segment sees "stop" at its next step and checkpoints; the slot
    is free at once and the scheduler never promotes the trial."""
    trial = _locked_trial(trial_id)
    move_status(trial, TrialStatus.KILLED, finished_at=timezone.now())
    record_event(trial.sweep, "killed", f"trial {trial.number} killed", trial=trial, user=user)
    _after_commit(trial.sweep_id, advance=True)
    return trial


@transaction.atomic
def pause_trial(trial_id: int, user: Any = None) -> Trial:
    """Pause a trial: it keeps its place and checkpoint; its worker slot is freed."""
    trial = _locked_trial(trial_id)
    move_status(trial, TrialStatus.PAUSED)
    record_event(trial.sweep, "paused", f"trial {trial.number} paused", trial=trial, user=user)
    _after_commit(trial.sweep_id, advance=True)
    return trial


@transaction.atomic
def resume_trial(trial_id: int, user: Any = None) -> Trial:
    """Continue a paused trial from its checkpoint (or, if its rung was done, await a decision)."""
    trial = _locked_trial(trial_id)
    if trial.status != TrialStatus.PAUSED:
        raise Conflict(
            f"trial {trial.number} is {trial.status}; only a paused trial can be resumed"
        )
    if trial.worker:
        raise Conflict(
            f"trial {trial.number} is still saving its checkpoint; resume it in a moment"
        )
    rung_done = trial.rung_results.filter(rung=trial.rung).exists()
    move_status(trial, TrialStatus.WAITING if rung_done else TrialStatus.PENDING)
    record_event(trial.sweep, "resumed", f"trial {trial.number} resumed", trial=trial, user=user)
    _after_commit(trial.sweep_id, advance=True)
    return trial


def _send_to_rung(trial: Trial, rung: int, user: Any, kind: str, message: str) -> Trial:
    if trial.status not in (TrialStatus.WAITING, TrialStatus.STOPPED, TrialStatus.COMPLETED):
        raise Conflict(
            f"trial {trial.number} is {trial.status}; only a trial that finished its rung can be {kind}"
        )
    if trial.worker:
        raise Conflict(
            f"trial {trial.number} is still saving its checkpoint; try again in a moment"
        )
    if trial.resource_done > 0 and not trial.checkpoint:
        raise Conflict(
            f"trial {trial.number} has no checkpoint to continue from: the retention policy "
            f"(RUNGS_KEEP_CHECKPOINTS={settings.RUNGS_KEEP_CHECKPOINTS}) removed it when the sweep ended"
        )
    budget = rung_budget(trial.sweep, trial.bracket, rung)
    move_status(trial, TrialStatus.PENDING, rung=rung, budget=budget,
          manual_rungs=[*trial.manual_rungs, rung], finished_at=None)  # fmt: skip
    record_event(trial.sweep, kind, message, trial=trial, user=user, rung=rung, budget=budget)
    if trial.sweep.status == SweepStatus.COMPLETED:
        move_status(trial.sweep, SweepStatus.RUNNING, finished_at=None)
    _after_commit(trial.sweep_id, advance=True)
    return trial


@transaction.atomic
def promote_trial(trial_id: int, user: Any = None) -> Trial:
    """Send a trial to the next rung by hand, whatever its rank. It is marked manual and does
    not take a place from the trials the rule promotes."""
    trial = _locked_trial(trial_id)
    if trial.rung >= max_rung(trial.sweep, trial.bracket):
        raise Conflict(f"trial {trial.number} is already at the largest budget; extend it instead")
    return _send_to_rung(trial, trial.rung + 1, user, "promoted",
                         f"trial {trial.number} promoted by hand to rung {trial.rung + 1}")  # fmt: skip


@transaction.atomic
def extend_trial(trial_id: int, user: Any = None) -> Trial:
    """Give a finished trial one more rung (eta times its budget), beyond the sweep's maximum."""
    trial = _locked_trial(trial_id)
    if trial.status != TrialStatus.COMPLETED:
        raise Conflict(
            f"trial {trial.number} is {trial.status}; only a completed trial can be extended"
        )
    return _send_to_rung(trial, trial.rung + 1, user, "extended",
                         f"trial {trial.number} extended to rung {trial.rung + 1}")  # fmt: skip


@transaction.atomic
def enqueue_trial(sweep_id: int, params: Any, user: Any = None) -> Trial:
    """Add a trial with chosen params; it starts before any proposed configuration."""
    sweep = _locked_sweep(sweep_id)
    if sweep.status in SweepStatus.TERMINAL:
        raise Conflict(f"sweep {sweep.pk} is {sweep.status}; no trial can be added")
    cleaned = clean_params(sweep, params)
    trial = Trial.objects.create(
        sweep=sweep,
        number=next_number(sweep),
        params=cleaned,
        manual=True,
        status=TrialStatus.PENDING,
    )
    record_event(
        sweep,
        "enqueued",
        f"trial {trial.number} added by hand",
        trial=trial,
        user=user,
        params=cleaned,
    )
    if sweep.status == SweepStatus.COMPLETED:
        move_status(sweep, SweepStatus.RUNNING, finished_at=None)
    _after_commit(sweep.pk, advance=True)
    return trial


# --- workers: one segment of one trial -------------------------------------------------------


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
) -> None:
    """Record a finished rung (once: unique per trial and rung) and let the scheduler decide."""
    with transaction.atomic():
        trial = _claimed_segment(trial_id, attempt)
        if trial is None or trial.rung != rung:
            return _advance_after_stale(trial_id)
        roll_up(trial)  # the segment's points are final
        finite = value if value is not None and math.isfinite(value) else None
        RungResult.objects.get_or_create(
            trial=trial, rung=rung,
            defaults={"sweep_id": trial.sweep_id, "budget": trial.budget, "value": finite,
                      "manual": rung in trial.manual_rungs},
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
        transaction.on_commit(lambda: nudge_sweep(trial.sweep_id))
    advance_sweep(trial.sweep_id)


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


def send_segments(segments: list[tuple[int, int, int]]) -> int:
    """Enqueue ``(trial, rung, attempt)`` segments; return how many the broker took.

    A segment whose send fails (the broker is down) is marked unsent in its row (a queued
    segment with no send time) and :func:`resend_queued` sends it again once the broker is
    back: the database, not the broker, is the outbox.
    """
    sent = 0
    for trial_id, rung, attempt in segments:
        try:
            sending.send_task(
                sending.RUN_SEGMENT, trial_id, rung, attempt, queue=settings.RUNGS_SEGMENT_QUEUE
            )
        except Exception as exc:
            log.warning(
                "could not send segment of trial %s (%s); it will be re-sent", trial_id, exc
            )
            Trial.objects.filter(pk=trial_id, attempt=attempt, worker="").update(heartbeat_at=None)
        else:
            sent += 1
    return sent


def resend_queued() -> int:
    """Send again the segments whose send failed, and those queued for longer than a lease
    (the broker may have lost them in a restart). A duplicate delivery is harmless: the first
    to claim the segment wins and the other finds it taken (:func:`begin_segment`)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.RUNGS_LEASE_SECONDS)
    queued = Trial.objects.filter(status=TrialStatus.RUNNING, worker="").filter(
        Q(heartbeat_at=None) | Q(heartbeat_at__lt=stale)
    )
    segments = list(queued.values_list("pk", "rung", "attempt"))
    for trial_id, _, attempt in segments:  # stamped first, so a failed send clears it again
        Trial.objects.filter(pk=trial_id, attempt=attempt, worker="").update(heartbeat_at=now)
    return send_segments(segments)


# --- the scheduler's turn --------------------------------------------------------------------


def advance_sweep(sweep_id: int) -> None:
    """Ask the scheduler what to do, apply it, and fill free worker slots. Runs after every
    segment and every manual action, under the sweep's row lock."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(pk=sweep_id).first()
        if sweep is None or sweep.status != SweepStatus.RUNNING:
            return
        over = apply_decisions(sweep)  # a paused trial keeps the sweep open
        to_send = dispatch_pending(sweep)
        if over:
            _end_sweep(sweep)

        def send() -> None:
            send_segments(to_send)
            nudge_sweep(sweep_id)

        transaction.on_commit(send)


def _end_sweep(sweep: Sweep) -> None:
    """The scheduler is done: completed if any trial produced a result, else failed with why."""
    if RungResult.objects.filter(sweep=sweep, value__isnull=False).exists():
        move_status(sweep, SweepStatus.COMPLETED, finished_at=timezone.now())
        record_event(sweep, "completed", "sweep completed")
    else:
        ended = sweep.trials.exclude(status__in=(TrialStatus.STOPPED, TrialStatus.COMPLETED))
        counts = ", ".join(
            f"{n} {status}"
            for status, n in sorted(Counter(ended.values_list("status", flat=True)).items())
        )
        first = ended.exclude(error="").order_by("number").first()
        reason = f"no trial produced a result ({counts or 'no trials'})"
        if first is not None:
            reason += f"; trial {first.number}: {first.error[:500]}"
        move_status(sweep, SweepStatus.FAILED, finished_at=timezone.now(), error=reason)
        record_event(sweep, "failed", reason)
    _after_commit(sweep.pk, cleanup=True)
