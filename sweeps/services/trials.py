"""Steering one trial by hand: kill, pause, resume, promote, extend, or add one.

Each locks the trial with its sweep and refuses (:class:`~sweeps.transitions.Conflict`, a
409) when the trial moved on meanwhile or its sweep has ended.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sweeps.models import Trial
from sweeps.scheduling import clean_params, max_rung, next_number, rung_budget
from sweeps.services.sweeps import _locked_sweep
from sweeps.services.turns import _after_commit
from sweeps.states import SweepStatus, TrialStatus
from sweeps.transitions import Conflict, move_status, record_event


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
