"""A sweep's own life: create, start, pause, resume, cancel, and change its budget."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from sweeps.models import Sweep
from sweeps.services.turns import _after_commit
from sweeps.services.workers import launch_warnings
from sweeps.states import SweepStatus
from sweeps.transitions import Conflict, move_status, record_event
from sweeps.validation import clean_spec


def create_sweep(spec: Any, user: Any) -> Sweep:
    """Validate ``spec`` and create a sweep owned by ``user``; start it if ``spec["start"]``.

    Raises SpaceError (field -> rule) and creates nothing when the spec is bad, or when
    workers are live and none can run its trainer (:func:`launch_warnings`). The sweep
    returned carries ``warnings``: a list of messages for the one who launched it (no
    worker is running), empty when there is nothing to say.
    """
    cleaned = clean_spec(spec, user=user)
    warnings = launch_warnings(cleaned["trainer"])
    start = cleaned.pop("start")
    with transaction.atomic():
        sweep = Sweep.objects.create(owner=user, **cleaned)
        record_event(sweep, "created", f"sweep {sweep.name!r} created", user=user)
        if start:
            _start(sweep, user)
    sweep.warnings = warnings  # type: ignore[attr-defined]  # for this launch, not a column
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
    """Change concurrency and/or the trial budget of a live sweep.

    The values arrive checked: REST and the socket validate the request once, with the
    action's serializer (``SweepUpdateSerializer`` in :mod:`sweeps.actions`).
    """
    changes = {
        key: value
        for key, value in (("concurrency", concurrency), ("max_trials", max_trials))
        if value is not None
    }
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
