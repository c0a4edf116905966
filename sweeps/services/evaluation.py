"""The final evaluation: one chosen trial's checkpoint on the test split, once per sweep.

The lectures' rule is that the test set is looked at once, at the very end, for the one
configuration chosen: a second request for the same sweep is a conflict naming the first
(who and when). The request is an :class:`~sweeps.models.Event` with its user; a worker
evaluates the checkpoint (task ``rungs.final_evaluation``) and the result is kept on the
:class:`~sweeps.models.FinalEvaluation` row, shown at the top of the sweep page.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sweeps import sending
from sweeps.models import FinalEvaluation, Sweep
from sweeps.nudges import nudge_sweep
from sweeps.search.space import SpaceError
from sweeps.states import SweepStatus
from sweeps.transitions import Conflict, record_event
from sweeps.validation import get_trainer_class

log = logging.getLogger(__name__)


def offers_final_evaluation(sweep: Sweep) -> bool:
    """Whether the sweep's trainer keeps a test split and no evaluation was asked for yet."""
    if sweep.tested:
        return False
    try:
        return bool(getattr(get_trainer_class(sweep.trainer), "has_test_split", False))
    except SpaceError:  # a trainer no longer registered
        return False


@transaction.atomic
def request_final_evaluation(sweep_id: int, user: Any = None, *, trial_number: int) -> Sweep:
    """Evaluate trial number ``trial_number``'s checkpoint on the test split; once per sweep.
    Returns the sweep (its ``final_evaluation`` now queued)."""
    sweep = Sweep.objects.select_for_update().get(pk=sweep_id)
    if sweep.status in SweepStatus.TERMINAL:
        raise Conflict(f"sweep {sweep.pk} is {sweep.status}; its test set stays unread")
    first = FinalEvaluation.objects.filter(sweep=sweep).select_related("user", "trial").first()
    if first is not None:
        who = first.user.get_username() if first.user else "rungs"
        raise Conflict(
            f"the test set of sweep {sweep.pk} was used on {first.created_at:%Y-%m-%d %H:%M} "
            f"UTC by {who} (trial {first.trial.number}); it is looked at once"
        )
    trial = trial_number
    if not offers_final_evaluation(sweep):
        raise SpaceError({"trial_number": f"trainer {sweep.trainer!r} keeps no test split"})
    chosen = sweep.trials.filter(number=trial).first()
    if chosen is None:
        raise SpaceError({"trial_number": f"sweep {sweep.pk} has no trial {trial}"})
    if not chosen.checkpoint:
        raise SpaceError({"trial_number": f"trial {trial} has no checkpoint to evaluate"})
    sweep.tested = True
    sweep.save(update_fields=["tested"])
    evaluation = FinalEvaluation.objects.create(
        sweep=sweep, trial=chosen, user=user if getattr(user, "pk", None) else None,
        checkpoint=chosen.checkpoint,
    )  # fmt: skip
    record_event(sweep, "final_evaluation",
                 f"trial {trial}'s checkpoint evaluated on the test set (once per sweep)",
                 trial=chosen, user=user)  # fmt: skip
    transaction.on_commit(lambda: _send(evaluation.pk, sweep.pk))
    return sweep


def _send(evaluation_id: int, sweep_id: int) -> None:
    try:
        sending.send_task(
            sending.FINAL_EVALUATION, evaluation_id, queue=settings.RUNGS_SEGMENT_QUEUE
        )
    except Exception as exc:  # the broker is down: say so instead of waiting forever
        log.warning("could not send final evaluation %s: %s", evaluation_id, exc)
        finish_final_evaluation(evaluation_id, error=f"could not reach the workers' queue: {exc}")
    nudge_sweep(sweep_id)


@transaction.atomic
def claim_final_evaluation(evaluation_id: int) -> FinalEvaluation | None:
    """The queued evaluation, now running; None if it was taken or is gone."""
    evaluation = (
        FinalEvaluation.objects.select_for_update()
        .select_related("sweep", "trial")
        .filter(pk=evaluation_id, status=FinalEvaluation.QUEUED)
        .first()
    )
    if evaluation is not None:
        evaluation.status = FinalEvaluation.RUNNING
        evaluation.save(update_fields=["status"])
    return evaluation


def finish_final_evaluation(
    evaluation_id: int, metrics: dict[str, float] | None = None, error: str = ""
) -> None:
    """Keep the test metrics (or why there are none) and tell the sweep's pages."""
    with transaction.atomic():
        evaluation = (
            FinalEvaluation.objects.select_for_update().select_related("sweep", "trial")
            .filter(pk=evaluation_id).exclude(status=FinalEvaluation.DONE).first()
        )  # fmt: skip
        if evaluation is None:
            return
        evaluation.status = FinalEvaluation.FAILED if error else FinalEvaluation.DONE
        evaluation.metrics, evaluation.error = metrics or {}, error[-4000:]
        evaluation.finished_at = timezone.now()
        evaluation.save()
        shown = ", ".join(f"{k} {v:.4g}" for k, v in (metrics or {}).items())
        record_event(evaluation.sweep, "final_evaluation_done" if not error else "final_evaluation_failed",
                     f"test set, trial {evaluation.trial.number}: {shown or error[:200]}",
                     trial=evaluation.trial, **(metrics or {}))  # fmt: skip
        transaction.on_commit(lambda: nudge_sweep(evaluation.sweep_id))
