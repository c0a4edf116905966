"""Every state change of sweeps and trials goes through a function here.

Each function works inside ``transaction.atomic()`` on rows locked with
``select_for_update``, records an :class:`~sweeps.models.Event` (with the user for manual
actions), and only after commit enqueues Celery work and nudges live pages. A steering
action that lost a race against the scheduler (the trial moved on meanwhile) raises
:class:`Conflict`, which the API turns into 409.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from dashboard.broadcast import nudge_sweep
from sweeps.models import Event, Sweep, Trial
from sweeps.states import InvalidTransition, SweepStatus
from sweeps.validation import clean_spec


class Conflict(Exception):
    """A steering action that the object's current state does not allow."""


def record_event(
    sweep: Sweep,
    kind: str,
    message: str = "",
    *,
    trial: Trial | None = None,
    user: Any = None,
    **data: Any,
) -> Event:
    return Event.objects.create(
        sweep=sweep,
        trial=trial,
        user=user if getattr(user, "pk", None) else None,
        kind=kind,
        message=message,
        data=data,
    )


def _after_commit(sweep_id: int, advance: bool = False) -> None:
    def send() -> None:
        if advance:
            from sweeps.tasks import advance_sweep_task

            advance_sweep_task.delay(sweep_id)
        nudge_sweep(sweep_id)

    transaction.on_commit(send)


def _move(obj: Sweep | Trial, status: str, **fields: Any) -> None:
    """Move ``obj`` to ``status`` (checked by the state machine) or raise :class:`Conflict`."""
    obj.status = status
    for name, value in fields.items():
        setattr(obj, name, value)
    try:
        obj.save(update_fields=["status", *fields])
    except InvalidTransition as exc:
        raise Conflict(str(exc)) from exc


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
    _move(sweep, SweepStatus.RUNNING, started_at=sweep.started_at or timezone.now())
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
    _move(sweep, SweepStatus.PAUSED)
    record_event(sweep, "paused", "sweep paused", user=user)
    _after_commit(sweep.pk)
    return sweep


@transaction.atomic
def resume_sweep(sweep_id: int, user: Any = None) -> Sweep:
    sweep = _locked_sweep(sweep_id)
    _move(sweep, SweepStatus.RUNNING)
    record_event(sweep, "resumed", "sweep resumed", user=user)
    _after_commit(sweep.pk, advance=True)
    return sweep


@transaction.atomic
def cancel_sweep(sweep_id: int, user: Any = None) -> Sweep:
    """End the sweep: no new segments; running trials are told to stop at their next step."""
    sweep = _locked_sweep(sweep_id)
    _move(sweep, SweepStatus.CANCELLED, finished_at=timezone.now())
    record_event(sweep, "cancelled", "sweep cancelled", user=user)
    _after_commit(sweep.pk)
    return sweep
