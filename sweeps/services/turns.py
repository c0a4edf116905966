"""The sweep's turn: ask the scheduler what to do, fill free worker slots, end the sweep.

:func:`advance_sweep` is the one place that asks the scheduler (:mod:`sweeps.scheduling`);
every other service gives the sweep its turn after commit, through :func:`_after_commit`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from sweeps import sending
from sweeps.models import RungResult, Sweep, Trial
from sweeps.nudges import nudge_sweep
from sweeps.scheduling import apply_decisions, dispatch_pending
from sweeps.services.outbox import send_segments
from sweeps.states import SweepStatus, TrialStatus
from sweeps.transitions import move_status, record_event

log = logging.getLogger(__name__)


def _after_commit(sweep_id: int, advance: bool = False, cleanup: bool = False) -> None:
    """Once the transaction commits: enqueue the checkpoint cleanup (``cleanup``), give the
    sweep its turn (``advance``), and nudge its live pages."""

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


def advance_sweep(sweep_id: int) -> None:
    """Ask the scheduler what to do, apply it, and fill free worker slots. Runs after every
    segment and every manual action, under the sweep's row lock."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(pk=sweep_id).first()
        if sweep is not None:
            take_turn(sweep)


def take_turn(sweep: Sweep, known: Sequence[Trial] = ()) -> bool:
    """The body of :func:`advance_sweep`, for a caller already inside a transaction that
    holds ``sweep``'s row lock (and read ``sweep`` under it): a segment's end takes the
    turn in its own transaction, one commit instead of two. The segments go to the broker,
    and the live pages are nudged, once that transaction commits; False when the sweep is
    not running (no turn, no nudge). ``known``: trials the caller holds locked and saved
    (see :func:`~sweeps.scheduling.apply_decisions`)."""
    if sweep.status != SweepStatus.RUNNING:
        return False
    applied = apply_decisions(sweep, known)
    to_send = dispatch_pending(sweep, running=applied.running)
    if applied.over:  # a paused trial keeps the sweep open
        _end_sweep(sweep)
    sweep_id = sweep.pk

    def send() -> None:
        send_segments(to_send)
        nudge_sweep(sweep_id)

    transaction.on_commit(send)
    return True


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
